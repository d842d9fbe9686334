"""One environment's resources, a construct per concern: devices, ingest, (tables),
files, delivery, watching, security; one customer-managed KMS key encrypts what they keep."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from kenshin_infra.delivery import Delivery
from kenshin_infra.devices import Devices
from kenshin_infra.files import Files
from kenshin_infra.ingest import Ingest
from kenshin_infra.security import Security
from kenshin_infra.settings import StageSettings
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
            description=f"{settings.name}: the ingest queues, the files and the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.devices = Devices(self, "Devices", settings)
        self.ingest = Ingest(self, "Ingest", settings, self.key)
        # The tables (DynamoDB: readings, slots, registry) come here, as a construct of
        # their own given the key, granting the ingest and export functions what each uses.
        self.files = Files(self, "Files", settings, self.key)
        if settings.sftp:
            Delivery(self, "Delivery", settings, self.key, self.files.bucket)
        self.watching = Watching(self, "Watching", settings, self.key, self.ingest, self.files)
        self.security = Security(
            self, "Security", settings, self.key, self.files.access_logs, self.watching.topic
        )

    @property
    def availability_zones(self) -> list[str]:
        """The stage's zones as the settings give them: nothing is looked up."""
        return self._zones
