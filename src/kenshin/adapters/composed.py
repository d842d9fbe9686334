"""A Store assembled from the ports of other stores: each port is used as it is, so a
backend can keep its readings in one place and its registry in another.

The contract tests run one (memory readings, dead letters and revisions beside an SQLite
registry, certificates, commands, deliveries, alerts, unit clocks, operators' accounts
and the audit log) to show the ports compose: no port relies on another being in the
same backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kenshin.domain.model import Watermark
from kenshin.ports import (
    AlertHistory,
    Alerts,
    AuditLog,
    Certificates,
    CommandQueue,
    DeadLetters,
    Deliveries,
    Operators,
    Readings,
    Registry,
    Revisions,
    UnitClocks,
)


@dataclass
class ComposedStore:
    """The Store port over the given ports; ``checks`` say whether a write could begin
    (each backend's ``check_writable``) and ``closers`` release each backend."""

    registry: Registry
    certificates: Certificates
    commands: CommandQueue
    readings: Readings
    dead_letters: DeadLetters
    revisions: Revisions
    deliveries: Deliveries
    alerts: Alerts
    unit_clocks: UnitClocks
    operators: Operators
    audit: AuditLog
    alert_history: AlertHistory
    checks: Sequence[Callable[[float], None]] = field(default=())
    closers: Sequence[Callable[[], None]] = field(default=())

    def watermark(self) -> Watermark:
        """The registry's newest meter, then the readings' newest batch."""
        meter = self.registry.last_meter()
        return Watermark(self.readings.last_batch(), meter)

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Every backend's check in turn; the first StoreError stops."""
        for check in self.checks:
            check(timeout_s)

    def close(self) -> None:
        """Close every backend, each once."""
        for close in self.closers:
            close()
