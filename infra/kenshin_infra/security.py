"""Security watching: a CloudTrail trail of every API call (its files encrypted with the
stage's key, each with a digest to prove it unchanged), and, where the settings turn
them on, GuardDuty and Security Hub; their serious findings go to the alarm topic."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_securityhub as securityhub
from aws_cdk import aws_sns as sns
from constructs import Construct

from kenshin_infra.settings import StageSettings

SERIOUS = 7  # GuardDuty's severity from which a finding is high
TRAIL_PREFIX = "trail/"


class Security(Construct):
    """The trail, GuardDuty's detector and Security Hub, and their findings' rules."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: StageSettings,
        key: kms.Key,
        access_logs: s3.IBucket,
        alarms: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket = s3.Bucket(
            self,
            "TrailBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=TRAIL_PREFIX,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="retention",
                    expiration=Duration.days(settings.trail_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=bucket,
            encryption_key=key,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=True,
        )
        _trail_may_encrypt(key)
        if settings.guardduty:
            guardduty.CfnDetector(self, "GuardDuty", enable=True)
            self._findings("GuardDutyFindings", _GUARDDUTY, alarms)
        if settings.security_hub:
            securityhub.CfnHub(self, "SecurityHub", enable_default_standards=True)
            self._findings("SecurityHubFindings", _SECURITY_HUB, alarms)

    def _findings(self, name: str, pattern: events.EventPattern, alarms: sns.ITopic) -> None:
        events.Rule(self, name, event_pattern=pattern, targets=[targets.SnsTopic(alarms)])


def _trail_may_encrypt(key: kms.Key) -> None:
    """CloudTrail may encrypt this account's trails' files with the key, and read what it
    is (the statements of CloudTrail's documented key policy)."""
    trail = iam.ServicePrincipal("cloudtrail.amazonaws.com")
    trails = f"arn:{Aws.PARTITION}:cloudtrail:*:{Aws.ACCOUNT_ID}:trail/*"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["kms:GenerateDataKey*"],
            principals=[trail],
            resources=["*"],
            conditions={"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails}},
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(actions=["kms:DescribeKey"], principals=[trail], resources=["*"])
    )


_GUARDDUTY = events.EventPattern(
    source=["aws.guardduty"],
    detail_type=["GuardDuty Finding"],
    detail={"severity": [{"numeric": [">=", SERIOUS]}]},
)
_SECURITY_HUB = events.EventPattern(
    source=["aws.securityhub"],
    detail_type=["Security Hub Findings - Imported"],
    detail={
        "findings": {
            "Severity": {"Label": ["HIGH", "CRITICAL"]},
            "Workflow": {"Status": ["NEW"]},
            "RecordState": ["ACTIVE"],
        }
    },
)
