"""The Store: one backend's ports together, as the composition root hands them out.

Services ask for the ports they use (``store.readings``, ``store.registry``...), never
for the whole; a backend may be assembled from parts of several (``adapters.composed``).
"""

from __future__ import annotations

from typing import Protocol

from kenshin.domain.model import Watermark
from kenshin.ports.alerts import AlertHistory, Alerts
from kenshin.ports.delivery import Deliveries
from kenshin.ports.operators import AuditLog, Operators
from kenshin.ports.readings import DeadLetters, Readings, Revisions
from kenshin.ports.registry import Certificates, CommandQueue, Registry
from kenshin.ports.units import UnitClocks


class Store(Protocol):
    """Readings, the registry, certificates, commands, dead letters, file revisions,
    deliveries, alert state, unit clocks, operators' accounts and the audit log of one
    deployment."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def certificates(self) -> Certificates:
        """The certificates issued to devices and their revocations."""

    @property
    def commands(self) -> CommandQueue:
        """The commands queued for devices."""

    @property
    def readings(self) -> Readings:
        """Register readings and their conflicts."""

    @property
    def dead_letters(self) -> DeadLetters:
        """Messages that could not be used, with their reasons."""

    @property
    def revisions(self) -> Revisions:
        """The published revisions of customers' day files."""

    @property
    def deliveries(self) -> Deliveries:
        """Customers' accounts and download receipts."""

    @property
    def alerts(self) -> Alerts:
        """Alert state, the notification queue and security events."""

    @property
    def alert_history(self) -> AlertHistory:
        """The alerts that ended, kept for operators to look back on."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """Each unit's last-seen time, clock offset and drift spells."""

    @property
    def operators(self) -> Operators:
        """Operators' accounts, their sessions and the API tokens."""

    @property
    def audit(self) -> AuditLog:
        """Every change made through the API or the command line, in order."""

    def watermark(self) -> Watermark:
        """How far the store has come, for reads ``as_of`` it: the newest meter's number
        (read first) and the newest batch. Reads as of it see what is stored now, and
        never what is stored later."""

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Return if a write could begin now (within ``timeout_s``); StoreError saying why
        not otherwise. Nothing is written: for readiness checks."""

    def close(self) -> None:
        """Release the backend's resources."""
