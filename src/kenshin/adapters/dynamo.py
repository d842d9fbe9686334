"""The store in DynamoDB, for kenshin on AWS (docs/aws.md): the same ports and the same
contract tests as every store, in the two tables of ``dynamo_tables``.

Each port is a part of its own module (``dynamo_readings``, ``dynamo_registry``...);
the parts share only the tables, and find what another part keeps by its keys:

- ``pk = "customer"``, ``sk`` = the customer's id: a customer (dynamo_registry);
- ``pk = "device"``, ``sk`` = the device's id: a device (dynamo_registry);
- ``pk = "counter"``, ``sk`` = its name: a counter (``DynamoTables.next_number``), among
  them ``METERS`` (meters registered, for ``last_meter``) and ``BATCHES`` (batches of
  readings, for ``last_batch``).
"""

from __future__ import annotations

from kenshin.adapters.dynamo_alert_history import DynamoAlertHistory
from kenshin.adapters.dynamo_alerts import DynamoAlerts
from kenshin.adapters.dynamo_delivery import DynamoDeliveries
from kenshin.adapters.dynamo_operators import DynamoAuditLog, DynamoOperators
from kenshin.adapters.dynamo_readings import DynamoDeadLetters, DynamoReadings, DynamoRevisions
from kenshin.adapters.dynamo_registry import DynamoCertificates, DynamoCommands, DynamoRegistry
from kenshin.adapters.dynamo_tables import DynamoTables
from kenshin.adapters.dynamo_units import DynamoUnitClocks
from kenshin.domain.model import Watermark


class DynamoStore:
    """A Store in the DynamoDB tables ``url`` names (``dynamodb://PREFIX?region=R``):
    through ``client`` (a boto3 DynamoDB client) or one made from the environment.
    ``create``: make the tables where they do not exist (on AWS the stack makes them)."""

    def __init__(self, url: str, *, client: object | None = None, create: bool = False) -> None:
        self.tables = DynamoTables.open(url, client)
        if create:
            self.tables.create()
        self.registry = DynamoRegistry(self.tables)
        self.certificates = DynamoCertificates(self.tables)
        self.commands = DynamoCommands(self.tables)
        self.readings = DynamoReadings(self.tables)
        self.dead_letters = DynamoDeadLetters(self.tables)
        self.revisions = DynamoRevisions(self.tables)
        self.deliveries = DynamoDeliveries(self.tables)
        self.alerts = DynamoAlerts(self.tables)
        self.alert_history = DynamoAlertHistory(self.tables)
        self.unit_clocks = DynamoUnitClocks(self.tables)
        self.operators = DynamoOperators(self.tables)
        self.audit = DynamoAuditLog(self.tables)

    def watermark(self) -> Watermark:
        """The newest meter's number (read first), then the newest batch's."""
        meter = self.registry.last_meter()
        return Watermark(self.readings.last_batch(), meter)

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """StoreError unless both tables are there and active (DynamoDB has no lock a
        write could wait on: a table that is active takes writes)."""
        self.tables.check()

    def close(self) -> None:
        """Nothing to release: boto3's client holds no connection that must be closed."""
