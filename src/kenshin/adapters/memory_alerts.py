"""Alert state, the notification queue and security events in memory: the MemoryStore's
``alerts``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from kenshin.domain.alerts import AlertMark, AlertState, Notification, Queued, ResolvedAlert
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import ExportFailure


class MemoryAlerts:
    """Alerts in dicts and lists."""

    def __init__(self) -> None:
        self._states: dict[str, AlertState] = {}
        self._queue: dict[int, Queued] = {}  # by id, in insertion (id) order
        self._next_id = 1
        self._events: list[SecurityEvent] = []
        self._export_failures: dict[str, ExportFailure] = {}
        self._marks: dict[str, AlertMark] = {}

    def alert_states(self) -> dict[str, AlertState]:
        """The active alerts' stored states by key."""
        return dict(self._states)

    def alert_marks(self) -> dict[str, AlertMark]:
        """What operators said of alerts (acknowledged, silenced), by key."""
        return dict(self._marks)

    def mark_alert(self, mark: AlertMark) -> None:
        """Keep ``mark`` as what operators said of its key, in place of any before."""
        self._marks[mark.key] = mark

    def save_round(
        self,
        states: Sequence[AlertState],
        resolved: Sequence[str],
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """Save ``states``, forget the ``resolved`` keys, and queue ``outgoing`` in order."""
        self._states.update((s.alert.key, s) for s in states)
        for key in resolved:
            self._states.pop(key, None)
        for channel, note in outgoing:
            self._queue[self._next_id] = Queued(self._next_id, channel, note)
            self._next_id += 1

    def queue_depths(self) -> dict[str, int]:
        """How many notifications wait, by channel (those with any)."""
        return dict(Counter(q.channel for q in self._queue.values()))

    def queued(self, channel: str | None = None, limit: int = 1000) -> list[Queued]:
        """At most ``limit`` queued notifications, oldest first, optionally of one channel."""
        found = [q for q in self._queue.values() if channel is None or q.channel == channel]
        return found[:limit]

    def delivered(self, ids: Sequence[int]) -> None:
        """Remove these notifications from the queue: they were sent."""
        for i in ids:
            self._queue.pop(i, None)

    def delivery_failed(self, ids: Sequence[int], error: str) -> None:
        """Count one more failed attempt for these notifications; they stay queued."""
        for i in ids:
            if (q := self._queue.get(i)) is not None:
                self._queue[i] = replace(q, attempts=q.attempts + 1, last_error=error)

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Keep security events."""
        self._events.extend(events)

    def security_events(
        self, since: int, limit: int = 10_000, *, newest: bool = False
    ) -> list[SecurityEvent]:
        """At most ``limit`` security events at or after ``since``, oldest first; with
        ``newest``, the newest ``limit`` of them, newest first."""
        found = sorted((e for e in self._events if e.at >= since), key=lambda e: e.at)
        if newest:
            found.reverse()
        return found[: max(limit, 0)]

    def prune_security_events(self, before: int) -> int:
        """Remove the security events before ``before``; how many."""
        kept = [e for e in self._events if e.at >= before]
        removed = len(self._events) - len(kept)
        self._events = kept
        return removed

    def export_failed(self, failure: ExportFailure) -> None:
        """Record that the customer's export failed; ``since`` stays that of the first
        failure in a row."""
        earlier = self._export_failures.get(failure.customer)
        since = failure.since if earlier is None else earlier.since
        self._export_failures[failure.customer] = replace(failure, since=since)

    def export_succeeded(self, customer: str) -> None:
        """Record that the customer's export succeeded: no failure of it stands."""
        self._export_failures.pop(customer, None)

    def export_failures(self) -> list[ExportFailure]:
        """The customers whose last export failed, by customer."""
        return [self._export_failures[c] for c in sorted(self._export_failures)]


class MemoryAlertHistory:
    """The alerts that ended, in memory (the AlertHistory port)."""

    def __init__(self) -> None:
        self._ended: list[ResolvedAlert] = []

    def add_resolved(self, ended: Sequence[ResolvedAlert]) -> None:
        """Keep alerts that ended."""
        self._ended.extend(ended)

    def resolved(self, since: int, limit: int = 500) -> list[ResolvedAlert]:
        """At most ``limit`` alerts that ended at or after ``since``, newest first."""
        found = [(e.resolved_at, i, e) for i, e in enumerate(self._ended) if e.resolved_at >= since]
        return [e for _, _, e in sorted(found, key=lambda f: (f[0], f[1]), reverse=True)][
            : max(limit, 0)
        ]

    def prune_resolved(self, before: int) -> int:
        """Forget the alerts that ended before ``before``; how many."""
        kept = [e for e in self._ended if e.resolved_at >= before]
        removed = len(self._ended) - len(kept)
        self._ended = kept
        return removed
