"""Delivery: customers collect their files from AWS Transfer Family, straight from the
files bucket, over SFTP (users of the server, made by hand or by the command line, not
by the stack) or FTPS in a VPC (see ftps.py). A customer's logical home directory is its
own prefix of the bucket: it sees nothing else, and its role may only list and read."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_transfer as transfer
from constructs import Construct

from kenshin_infra.files import acknowledge_files_objects
from kenshin_infra.ftps import SECURITY_POLICY, Ftps
from kenshin_infra.functions import RETENTION, Shared


class Delivery(Construct):
    """The role customers' sessions take, the SFTP server and the FTPS server where the
    settings turn them on, and their log group."""

    def __init__(
        self, scope: Construct, construct_id: str, shared: Shared, key: kms.IKey, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        settings = shared.settings
        # Every login and every download, one JSON line each.
        self.logs = logs.LogGroup(
            self,
            "Logs",
            retention=RETENTION[settings.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.customer_role = self._customer_role(key, bucket)
        self.server = (
            transfer.CfnServer(
                self,
                "Server",
                domain="S3",
                endpoint_type="PUBLIC",
                identity_provider_type="SERVICE_MANAGED",
                protocols=["SFTP"],
                security_policy_name=SECURITY_POLICY,
                structured_log_destinations=[self.logs.log_group_arn],
            )
            if settings.sftp
            else None
        )
        self.ftps = (
            Ftps(self, "Ftps", shared, self.logs, self.customer_role, bucket, key)
            if settings.ftps
            else None
        )

    def _customer_role(self, key: kms.IKey, bucket: s3.IBucket) -> iam.Role:
        """The role of a customer's session: list the bucket and read its files (its home
        directory, a prefix, keeps it to its own), nothing more."""
        role = iam.Role(
            self,
            "CustomerRole",
            assumed_by=iam.ServicePrincipal(
                "transfer.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="A customer's session: list and read files, under its home only",
        )
        iam.Grant.add_to_principal(
            grantee=role, actions=["s3:GetObject"], resource_arns=[bucket.arn_for_objects("*")]
        )
        iam.Grant.add_to_principal(
            grantee=role, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
        )
        key.grant(role, "kms:Decrypt")
        acknowledge_files_objects(
            role,
            "A customer reads files of the files bucket only, and of those only its own: its"
            " user's logical home directory is its prefix.",
        )
        return role
