"""Customers' files: an S3 bucket (the stage's key, TLS only, versioned, its access
logged, no public access, every object and version gone after the retention), and the
export function that writes them, run every ``export_every_minutes`` and once more
``export_day_close_minutes`` after midnight UTC, when a day has closed."""

from __future__ import annotations

from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from kenshin_infra.functions import EXPORT_HANDLER, Shared, one_at_a_time, python_function
from kenshin_infra.settings import StageSettings

ACCESS_LOG_PREFIX = "files/"
# cdk-nag's name for "every object of the files bucket", in a policy's resources.
FILES_OBJECTS = r"/^Resource::<.*FilesBucket.*\.Arn>\/\*$/g"


def acknowledge_files_objects(role: iam.IRole, reason: str) -> None:
    """Acknowledge cdk-nag's IAM5 for ``role``'s grant on the objects of the files bucket
    (any key: which customer's files is decided elsewhere, as ``reason`` says)."""
    NagSuppressions.add_resource_suppressions(
        role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=reason,
                applies_to=[RegexAppliesTo(regex=FILES_OBJECTS)],
            )
        ],
        apply_to_children=True,
    )


class Files(Construct):
    """The files bucket, its access-log bucket, and the scheduled export function."""

    def __init__(self, scope: Construct, construct_id: str, shared: Shared, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        settings = shared.settings
        self.access_logs = self._access_log_bucket(settings)
        retention = Duration.days(settings.file_retention_days)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="retention",
                    expiration=retention,
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(id="delete-markers", expired_object_delete_marker=True),
            ],
        )
        self.export = python_function(
            self,
            "Export",
            handler=EXPORT_HANDLER,
            memory_mb=settings.export_memory_mb,
            timeout_s=settings.export_timeout_s,
            shared=shared,
            environment={
                # kenshin's export.outbox: the bucket, each customer's files under its id.
                "KENSHIN_EXPORT__OUTBOX": Fn.join("", ["s3://", self.bucket.bucket_name, "/"]),
                "KENSHIN_EXPORT__OUTBOX_KMS_KEY": key.key_arn,
            },
        )
        one_at_a_time(self.export)
        self._grant_files(key)
        self.schedules = self._schedules(settings)

    def _schedules(self, settings: StageSettings) -> list[events.Rule]:
        """The export every ``export_every_minutes``, and at day close."""
        hour, minute = divmod(settings.export_day_close_minutes, 60)
        return [
            events.Rule(
                self,
                name,
                schedule=schedule,
                targets=[targets.LambdaFunction(self.export, retry_attempts=2)],
            )
            for name, schedule in (
                ("Schedule", events.Schedule.rate(Duration.minutes(settings.export_every_minutes))),
                ("DayClose", events.Schedule.cron(minute=str(minute), hour=str(hour))),
            )
        ]

    def _grant_files(self, key: kms.IKey) -> None:
        """What the export function does with the files (list, read, write, delete: the
        calls of kenshin's S3 outbox), named one by one, on this bucket only."""
        iam.Grant.add_to_principal(
            grantee=self.export,
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            resource_arns=[self.bucket.arn_for_objects("*")],
        )
        iam.Grant.add_to_principal(
            grantee=self.export, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
        )
        key.grant(self.export, "kms:Decrypt", "kms:GenerateDataKey")
        role = self.export.role
        assert role is not None  # the function made its own
        acknowledge_files_objects(
            role,
            "The export function reads and writes any customer's files, and only those: the"
            " objects of the files bucket.",
        )

    def _access_log_bucket(self, settings: StageSettings) -> s3.Bucket:
        """The bucket the files bucket's access is logged to: S3-managed encryption (the
        only one S3 writes access logs with), TLS only, kept a year by default."""
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="retention",
                    expiration=Duration.days(settings.access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
        )
        NagSuppressions.add_resource_suppressions(
            bucket,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="This is the bucket access logs go to: logging its own access"
                    " would log without end.",
                )
            ],
        )
        return bucket
