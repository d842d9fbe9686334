"""kenshin's Lambda functions: Python 3.12, the repository's ``src/`` as their code (no
bundling: nothing is built or downloaded at synthesis), a log group of their own."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from kenshin_infra.settings import SettingsError, StageSettings

SOURCE = Path(__file__).resolve().parents[2] / "src"
RUNTIME = lambda_.Runtime.PYTHON_3_12
INGEST_HANDLER = "kenshin.entrypoints.aws_lambda.ingest.handler"
EXPORT_HANDLER = "kenshin.entrypoints.aws_lambda.export.handler"
_LEFT_OUT = ["**/__pycache__", "**/*.pyc", "*.egg-info"]
# The retentions CloudWatch Logs offers (some of them), by days.
RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    handler: str,
    memory_mb: int,
    timeout_s: int,
    settings: StageSettings,
    environment: dict[str, str] | None = None,
) -> lambda_.Function:
    """A function running kenshin's ``handler`` (a dotted module path and a name)."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=_retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN,
    )
    # A role of its own that may write to its log group only (not the managed
    # AWSLambdaBasicExecutionRole, which may write to any).
    role = iam.Role(
        scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        handler=handler,
        code=lambda_.Code.from_asset(str(SOURCE), exclude=_LEFT_OUT),
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_s),
        architecture=lambda_.Architecture.ARM_64,
        environment={"KENSHIN_STAGE": settings.name, **(environment or {})},
        log_group=log_group,
        role=role,
    )
    _acknowledge(function)
    return function


def _acknowledge(function: lambda_.Function) -> None:
    """The findings about every function, acknowledged with the reason."""
    # CDK makes the function depend on its role, which its GetAtt of the role already
    # says: harmless, and cfn-lint's W3005 says only that.
    resource = function.node.default_child
    assert isinstance(resource, CfnResource)
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
    NagSuppressions.add_resource_suppressions(
        function,
        [
            NagPackSuppression(
                id="AwsSolutions-L1",
                reason="Python 3.12 is the runtime kenshin's handlers are built and tested"
                " for; they move to a newer one deliberately, with it.",
            )
        ],
    )


def _retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs' retention of ``days``; SettingsError if it offers none so long."""
    if days not in RETENTION:
        raise SettingsError(f"log_retention_days: {days} is none of {sorted(RETENTION)}")
    return RETENTION[days]
