"""In-memory store: backs unit tests and short-lived runs; same contract as every store.

Each port is a part of its own (``memory_registry``, ``memory_readings``...): parts of
this store may be composed with parts of another (see ``composed``).
"""

from __future__ import annotations

from kenshin.adapters.memory_alerts import MemoryAlertHistory, MemoryAlerts
from kenshin.adapters.memory_delivery import MemoryDeliveries
from kenshin.adapters.memory_operators import MemoryAuditLog, MemoryOperators
from kenshin.adapters.memory_readings import MemoryDeadLetters, MemoryReadings, MemoryRevisions
from kenshin.adapters.memory_registry import MemoryCertificates, MemoryCommands, MemoryRegistry
from kenshin.adapters.memory_units import MemoryUnitClocks
from kenshin.domain.model import Watermark


class MemoryStore:
    """A Store kept in dictionaries."""

    def __init__(self) -> None:
        self.registry = MemoryRegistry()
        self.certificates = MemoryCertificates(self.registry.has_device)
        self.commands = MemoryCommands(self.registry.has_device)
        self.readings = MemoryReadings()
        self.dead_letters = MemoryDeadLetters()
        self.revisions = MemoryRevisions()
        self.deliveries = MemoryDeliveries(
            lambda customer: self.registry.get_customer(customer) is not None
        )
        self.alerts = MemoryAlerts()
        self.alert_history = MemoryAlertHistory()
        self.unit_clocks = MemoryUnitClocks()
        self.operators = MemoryOperators()
        self.audit = MemoryAuditLog()

    def watermark(self) -> Watermark:
        """The newest meter's number and the last batch."""
        meter = self.registry.last_meter()
        return Watermark(self.readings.last_batch(), meter)

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Always writable: the store is this process's memory."""

    def close(self) -> None:
        """Nothing to release."""
