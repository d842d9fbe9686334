"""The periodic work of kenshin, one round at a time, for whoever runs it on a schedule:
``kenshin serve``, the leading ``kenshin worker``, or a scheduled function on AWS.

``ExportRound`` exports what is due, flags the files customers have not collected in
time and asks units for the readings their meters lack; ``WatchRound`` evaluates the
alert rules and sends what is due. Each keeps between rounds what the next one needs
(days found unchanged, files flagged, channels' retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kenshin.config import RecoveryConfig
from kenshin.domain.alert_rules import silent_units
from kenshin.domain.alerts import Plan
from kenshin.domain.observations import CertificateExpiry, Observations
from kenshin.ports import Outbox, UnitClocks
from kenshin.services.alerting import Alerting, AlertingPorts
from kenshin.services.export import ExportSettings
from kenshin.services.export_jobs import Exporter
from kenshin.services.receipts import CollectionWatch
from kenshin.services.recovery import RecoveryPorts, ask_for_gaps
from kenshin.services.schedule import ExportRun, LateReadings, SchedulePorts, export_due


class RoundPorts(SchedulePorts, RecoveryPorts, AlertingPorts, Protocol):
    """What the rounds read and write. A ``Store`` is one."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """Each unit's last-seen time."""


@dataclass
class ExportRound:
    """The scheduled export: ``export`` what is due, then ``follow_up`` (collection, gap
    recovery); ``run`` does both."""

    store: RoundPorts
    outbox: Outbox
    settings: ExportSettings
    recovery: RecoveryConfig
    collection: CollectionWatch
    late: LateReadings = field(default_factory=LateReadings)  # days found unchanged
    elsewhere: Exporter | None = None  # processes that make the files, if not this one

    def export(self, now: int) -> ExportRun:
        """Export every customer's due days, restated ones included; remove what expired."""
        return export_due(
            self.store,
            self.outbox,
            self.settings,
            now=now,
            late=self.late,
            elsewhere=self.elsewhere,
        )

    def follow_up(self, now: int) -> None:
        """Flag final files not collected in time; ask units to resend what is missing."""
        self.collection.check(self.store, now)
        ask_for_gaps(self.store, self.recovery, now=now)

    def run(self, now: int) -> ExportRun:
        """One whole round at ``now``."""
        done = self.export(now)
        self.follow_up(now)
        return done


@dataclass(frozen=True)
class Watched:
    """What a watch round did: its plan, and the units silent by the rules."""

    plan: Plan
    silent_units: int


@dataclass
class WatchRound:
    """One evaluation of the alert rules over what the store holds, for a process that
    sees nothing of ingest itself (messages are committed elsewhere), then the sending
    of what is due. ``zone``: the site's time zone."""

    store: RoundPorts
    alerting: Alerting
    zone: str

    def run(self, now: int, certificates: Sequence[CertificateExpiry] = ()) -> Watched:
        """Evaluate at ``now`` and send; ``certificates``: those this process presents."""
        server = Observations(
            now,
            zone=self.zone,
            export_failures=tuple(self.store.alerts.export_failures()),
            certificates=tuple(certificates),
        )
        plan = self.alerting.tick(server, self.store.unit_clocks.last_seen())
        observed = self.alerting.observed or server
        silent = silent_units(observed, self.alerting.settings.thresholds)
        return Watched(plan, sum(len(units) for units in silent.values()))
