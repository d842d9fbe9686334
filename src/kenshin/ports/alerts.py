"""The alerting ports: alert state with the notification queue and security events, and
the channels notifications go to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kenshin.domain.alerts import AlertMark, AlertState, Notification, Queued, ResolvedAlert
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import ExportFailure
from kenshin.errors import KenshinError


class Alerts(Protocol):
    """The state of active alerts, the notification queue of each channel, and the
    security events reported by the endpoint and the file servers."""

    def alert_states(self) -> dict[str, AlertState]:
        """The active alerts' stored states by key."""

    def alert_marks(self) -> dict[str, AlertMark]:
        """What operators said of alerts (acknowledged, silenced), by key."""

    def mark_alert(self, mark: AlertMark) -> None:
        """Keep ``mark`` as what operators said of its key, in place of any before."""

    def save_round(
        self,
        states: Sequence[AlertState],
        resolved: Sequence[str],
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """In one transaction: save ``states``, forget the ``resolved`` keys, and queue each
        (channel, notification) of ``outgoing`` in order."""

    def queued(self, channel: str | None = None, limit: int = 1000) -> list[Queued]:
        """At most ``limit`` queued notifications, oldest first, optionally of one channel."""

    def queue_depths(self) -> dict[str, int]:
        """How many notifications wait, by channel (those with any)."""

    def delivered(self, ids: Sequence[int]) -> None:
        """Remove these notifications from the queue: they were sent."""

    def delivery_failed(self, ids: Sequence[int], error: str) -> None:
        """Count one more failed attempt for these notifications; they stay queued."""

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Keep security events."""

    def security_events(
        self, since: int, limit: int = 10_000, *, newest: bool = False
    ) -> list[SecurityEvent]:
        """At most ``limit`` security events at or after ``since``, oldest first; with
        ``newest``, the newest ``limit`` of them, newest first."""

    def prune_security_events(self, before: int) -> int:
        """Remove the security events before ``before``; how many."""

    def export_failed(self, failure: ExportFailure) -> None:
        """Record that the customer's export failed; ``since`` stays that of the first
        failure in a row."""

    def export_succeeded(self, customer: str) -> None:
        """Record that the customer's export succeeded: no failure of it stands."""

    def export_failures(self) -> list[ExportFailure]:
        """The customers whose last export failed (by the server or by hand), by customer."""


class AlertHistory(Protocol):
    """The alerts that ended, kept for operators to look back on."""

    def add_resolved(self, ended: Sequence[ResolvedAlert]) -> None:
        """Keep alerts that ended."""

    def resolved(self, since: int, limit: int = 500) -> list[ResolvedAlert]:
        """At most ``limit`` alerts that ended at or after ``since``, newest first."""

    def prune_resolved(self, before: int) -> int:
        """Forget the alerts that ended before ``before``; how many."""


class ChannelError(KenshinError):
    """An alert channel could not deliver a message; it stays queued."""


class AlertChannel(Protocol):
    """Somewhere alert notifications go: an email address, a Slack channel, a webhook."""

    @property
    def name(self) -> str:
        """The channel's name in the configuration, which routing rules refer to."""

    def send(self, notes: Sequence[Notification]) -> None:
        """Deliver the notifications as one message; ChannelError saying why it failed."""
