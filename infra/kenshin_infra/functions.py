"""kenshin's Lambda functions: Python 3.12 on arm64, the repository's ``src/`` as their
code (nothing is built or downloaded at synthesis), kenshin's third-party packages and
its site configuration as layers, a log group of their own, and what every one of them
is told by its environment: the stage, the store, the data folder, the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from kenshin_infra.layers import ARCHITECTURE, CONFIG_FILE, RUNTIME, config_layer
from kenshin_infra.layers import dependencies_layer as packages_layer
from kenshin_infra.settings import SettingsError, StageSettings

SOURCE = Path(__file__).resolve().parents[2] / "src"
_HANDLERS = "kenshin.entrypoints.aws_lambda"
INGEST_HANDLER = f"{_HANDLERS}.ingest.handler"
EXPORT_HANDLER = f"{_HANDLERS}.export.handler"
WATCH_HANDLER = f"{_HANDLERS}.watch.handler"
REPORT_HANDLER = f"{_HANDLERS}.report.handler"
IDENTITY_HANDLER = f"{_HANDLERS}.identity.handler"
DATA_DIR = "/tmp/kenshin"  # noqa: S108 - a function's only writable folder is /tmp
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


@dataclass(frozen=True)
class Shared:
    """What every function of a stage shares: its settings and its two layers."""

    settings: StageSettings
    layers: tuple[lambda_.ILayerVersion, ...]

    @classmethod
    def make(cls, scope: Construct, settings: StageSettings) -> Shared:
        """The layers made in ``scope``, once for the stage."""
        return cls(settings, (packages_layer(scope, settings), config_layer(scope, settings)))

    @property
    def environment(self) -> dict[str, str]:
        """Every function's environment: kenshin's settings (KENSHIN_<SECTION>__<KEY>)
        for its store, data folder and configuration file, and the stage's name."""
        return {
            "KENSHIN_AWS_STAGE": self.settings.name,
            "KENSHIN_CONFIG": CONFIG_FILE,
            "KENSHIN_DATA_DIR": DATA_DIR,
            "KENSHIN_STORE__URL": store_url(self.settings),
        }


def store_url(settings: StageSettings) -> str:
    """The store kenshin's functions use: the stage's two tables (see tables.py)."""
    return f"dynamodb://{settings.name}-"


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    handler: str,
    memory_mb: int,
    timeout_s: int,
    shared: Shared,
    environment: dict[str, str] | None = None,
) -> lambda_.Function:
    """A function running kenshin's ``handler`` (a dotted module path and a name)."""
    settings = shared.settings
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
        architecture=ARCHITECTURE,
        layers=list(shared.layers),
        environment={**shared.environment, **(environment or {})},
        log_group=log_group,
        role=role,
    )
    _acknowledge(function)
    return function


def one_at_a_time(function: lambda_.Function) -> lambda_.Function:
    """``function`` never run twice at once: for the jobs that a cluster's leader alone
    runs (export, watch, report)."""
    return at_most(function, 1)


def at_most(function: lambda_.Function, invocations: int) -> lambda_.Function:
    """``function`` run at most ``invocations`` times at once (a reserved concurrency)."""
    resource = function.node.default_child
    assert isinstance(resource, lambda_.CfnFunction)
    resource.reserved_concurrent_executions = invocations
    return function


def _acknowledge(function: lambda_.Function) -> None:
    """The findings about every function, acknowledged with the reason."""
    resource = function.node.default_child
    assert isinstance(resource, CfnResource)
    depends_on_its_role(resource)
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


def depends_on_its_role(function: CfnResource) -> None:
    """cfn-lint's W3005 on a function CDK made depend on its role, acknowledged: its GetAtt
    of the role already says so, which is harmless and all W3005 says."""
    function.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})


def _retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs' retention of ``days``; SettingsError if it offers none so long."""
    if days not in RETENTION:
        raise SettingsError(f"log_retention_days: {days} is none of {sorted(RETENTION)}")
    return RETENTION[days]
