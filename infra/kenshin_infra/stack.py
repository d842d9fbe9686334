"""One environment's resources, a construct per concern: devices, ingest, tables, files,
kenshin's jobs, delivery, watching, security, operators; one customer-managed KMS key
encrypts what they keep."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from kenshin_infra.delivery import Delivery
from kenshin_infra.devices import Devices
from kenshin_infra.files import Files
from kenshin_infra.functions import Shared
from kenshin_infra.ingest import Ingest
from kenshin_infra.jobs import Jobs
from kenshin_infra.operators import Operators
from kenshin_infra.security import Security
from kenshin_infra.settings import StageSettings
from kenshin_infra.tables import Tables
from kenshin_infra.watching import Watching


class KenshinStack(Stack):
    """kenshin on AWS for one stage."""

    def __init__(self, scope: Construct, construct_id: str, settings: StageSettings) -> None:
        super().__init__(scope, construct_id, stack_name=settings.name)
        self._zones = list(settings.availability_zones)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{settings.name}",
            description=f"{settings.name}: the tables, the ingest queues, the files and the"
            " alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        shared = Shared.make(self, settings)
        self.devices = Devices(self, "Devices", settings)
        self.ingest = Ingest(self, "Ingest", shared, self.key)
        self.tables = Tables(self, "Tables", settings, self.key)
        self.files = Files(self, "Files", shared, self.key)
        self.jobs = Jobs(self, "Jobs", shared)
        self.delivery = (
            Delivery(self, "Delivery", shared, self.key, self.files.bucket)
            if settings.sftp or settings.ftps
            else None
        )
        for function in (
            self.ingest.function,
            self.files.export,
            self.jobs.watch,
            self.jobs.report,
        ):
            self.tables.grant_store(function)
        self.devices.grant_commands(self.files.export)
        if self.delivery is not None and self.delivery.ftps is not None:
            self.tables.grant_logins(self.delivery.ftps.identity)
        self.watching = Watching(self, "Watching", settings, self.key, self.ingest, self.functions)
        self.security = Security(
            self, "Security", settings, self.key, self.files.access_logs, self.watching.topic
        )
        log_groups = [c for c in self.node.find_all() if isinstance(c, logs.LogGroup)]
        self.operators = Operators(self, "Operators", settings, log_groups)

    @property
    def functions(self) -> dict[str, lambda_.Function]:
        """kenshin's functions in this stage, by name."""
        found = {
            "Ingest": self.ingest.function,
            "Export": self.files.export,
            "Watch": self.jobs.watch,
            "Report": self.jobs.report,
        }
        if self.delivery is not None and self.delivery.ftps is not None:
            found["Identity"] = self.delivery.ftps.identity
        return found

    @property
    def availability_zones(self) -> list[str]:
        """The stage's zones as the settings give them: nothing is looked up."""
        return self._zones
