"""kenshin's store on AWS: the DynamoDB store's two tables (``{name}-readings`` and
``{name}-records``, their keys as ``kenshin.adapters.dynamo_tables`` declares them), on
demand, with point-in-time recovery and deletion protection, encrypted with the stage's
key, kept if the stack is deleted; and what each function may do with them."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from kenshin.adapters.dynamo_alerts import EVENT as SECURITY_EVENTS
from kenshin.adapters.dynamo_delivery import FAILURE as LOGIN_FAILURES
from kenshin.adapters.dynamo_tables import COUNTER, READINGS, RECORDS, TABLES
from kenshin_infra.settings import StageSettings

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}
# The calls of kenshin's DynamoDB store, on items only: it makes and drops no table.
READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable")
WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)

# The records table's partitions a login writes (kenshin.adapters.dynamo_*'s keys).
LOGIN_PARTITIONS = [LOGIN_FAILURES, f"{LOGIN_FAILURES}#*", SECURITY_EVENTS, COUNTER]


class Tables(Construct):
    """The readings and records tables, and the grants on them."""

    def __init__(
        self, scope: Construct, construct_id: str, settings: StageSettings, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self.readings = self._table(READINGS, settings, key)
        self.records = self._table(RECORDS, settings, key)

    def _table(self, kind: str, settings: StageSettings, key: kms.IKey) -> dynamodb.Table:
        (hash_key, hash_type), (range_key, range_type) = TABLES[kind]
        return dynamodb.Table(
            self,
            kind.capitalize(),
            table_name=f"{settings.name}-{kind}",
            partition_key=dynamodb.Attribute(name=hash_key, type=_TYPES[hash_type]),
            sort_key=dynamodb.Attribute(name=range_key, type=_TYPES[range_type]),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_store(self, grantee: iam.IGrantable) -> None:
        """Read and write items of both tables: what a function using kenshin's store does."""
        tables = [self.readings.table_arn, self.records.table_arn]
        iam.Grant.add_to_principal(grantee=grantee, actions=[*READS, *WRITES], resource_arns=tables)
        self._key.grant(grantee, "kms:Decrypt", "kms:Encrypt")

    def grant_logins(self, grantee: iam.IGrantable) -> None:
        """What the file servers' logins use: read items of the records table (the
        customers' accounts), and write only in the partitions of failed logins (the
        lockout every server shares), security events and the counters numbering them."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=list(READS), resource_arns=[self.records.table_arn]
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(WRITES),
                resources=[self.records.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": LOGIN_PARTITIONS}},
            )
        )
        self._key.grant(grantee, "kms:Decrypt", "kms:Encrypt")
