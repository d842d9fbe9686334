"""Alert state, the notification queue, security events and failed exports in the
PostgreSQL store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple

from kenshin.adapters import store_rows
from kenshin.adapters.postgres_part import PgPart
from kenshin.domain.alerts import AlertMark, AlertState, Notification, Queued, ResolvedAlert
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import ExportFailure

# Alerts that ended, newest looked at first; pruned after 90 days.
HISTORY_SCHEMA = """
    CREATE TABLE alert_history (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, resolved_at BIGINT NOT NULL,
        key TEXT NOT NULL, severity TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
        customer TEXT, since BIGINT NOT NULL, zone TEXT NOT NULL);
    CREATE INDEX alert_history_at ON alert_history (resolved_at, id);
"""
SCHEMA = """
    -- Alerts active at the last evaluation: their latest form and when last notified.
    CREATE TABLE alert_states (
        key TEXT PRIMARY KEY, severity TEXT NOT NULL, title TEXT NOT NULL,
        text TEXT NOT NULL, customer TEXT, since BIGINT NOT NULL, zone TEXT NOT NULL,
        notified_at BIGINT NOT NULL);
    -- Notifications waiting for their channel, sent in id order; a sent one is removed.
    CREATE TABLE alert_queue (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, channel TEXT NOT NULL,
        event TEXT NOT NULL, at BIGINT NOT NULL, key TEXT NOT NULL, severity TEXT NOT NULL,
        title TEXT NOT NULL, text TEXT NOT NULL, customer TEXT, since BIGINT NOT NULL,
        zone TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '');
    CREATE INDEX alert_queue_channel ON alert_queue (channel, id);
    -- Refusals that may be attacks, as the endpoint and the file servers reported them.
    CREATE TABLE security_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL,
        at BIGINT NOT NULL, address TEXT NOT NULL, who TEXT, detail TEXT NOT NULL);
    CREATE INDEX security_events_at ON security_events (at);
    -- Customers whose last export failed, by the server's runs or by hand: the export
    -- alerts and readiness of the server come from here, so any export's success clears
    -- them; since: the first failure in a row.
    CREATE TABLE export_failures (
        customer TEXT COLLATE "C" PRIMARY KEY, day TEXT NOT NULL, reason TEXT NOT NULL,
        since BIGINT NOT NULL);
"""
_QUEUED = (
    "SELECT id, channel, attempts, last_error, event, at,"
    " key, severity, title, text, customer, since, zone FROM alert_queue"
)

# What operators said of an alert's key: acknowledged (by, at), silenced (until, by).
MARKS_SCHEMA = """
    CREATE TABLE alert_marks (
        key TEXT PRIMARY KEY, acknowledged_by TEXT, acknowledged_at BIGINT,
        silenced_until BIGINT, silenced_by TEXT);
"""


# The security events at or after a time: oldest first, or (True) newest first.
_EVENTS = {
    False: "SELECT kind, at, address, who, detail FROM security_events WHERE at >= %s"
    " ORDER BY at, id LIMIT %s",
    True: "SELECT kind, at, address, who, detail FROM security_events WHERE at >= %s"
    " ORDER BY at DESC, id DESC LIMIT %s",
}


class PgAlerts(PgPart):
    """Alerts on the store's pool."""

    def alert_states(self) -> dict[str, AlertState]:
        """The active alerts' stored states by key."""
        rows = self._rows(
            "reading alert states",
            "SELECT key, severity, title, text, customer, since, zone, notified_at"
            " FROM alert_states",
        )
        return {row[0]: AlertState(store_rows.alert(row[:7]), row[7]) for row in rows}

    def alert_marks(self) -> dict[str, AlertMark]:
        """What operators said of alerts (acknowledged, silenced), by key."""
        sql = (
            "SELECT key, acknowledged_by, acknowledged_at, silenced_until, silenced_by"
            " FROM alert_marks"
        )
        return {row[0]: AlertMark(*row) for row in self._rows("reading alert marks", sql)}

    def mark_alert(self, mark: AlertMark) -> None:
        """Keep ``mark`` as what operators said of its key, in place of any before."""
        self._run(
            "marking an alert",
            "INSERT INTO alert_marks VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET"
            " acknowledged_by = EXCLUDED.acknowledged_by,"
            " acknowledged_at = EXCLUDED.acknowledged_at,"
            " silenced_until = EXCLUDED.silenced_until, silenced_by = EXCLUDED.silenced_by",
            astuple(mark),
        )

    def save_round(
        self,
        states: Sequence[AlertState],
        resolved: Sequence[str],
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """In one transaction: save ``states``, forget the ``resolved`` keys, and queue each
        (channel, notification) of ``outgoing`` in order."""
        with self._using("saving alert states and notifications") as db, db.cursor() as cur:
            cur.executemany(
                "INSERT INTO alert_states VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (key) DO UPDATE SET severity = EXCLUDED.severity,"
                " title = EXCLUDED.title, text = EXCLUDED.text, customer = EXCLUDED.customer,"
                " since = EXCLUDED.since, zone = EXCLUDED.zone,"
                " notified_at = EXCLUDED.notified_at",
                [(*astuple(s.alert), s.notified_at) for s in states],
            )
            if resolved:
                cur.execute("DELETE FROM alert_states WHERE key = ANY(%s)", (list(resolved),))
            cur.executemany(
                "INSERT INTO alert_queue (channel, event, at,"
                " key, severity, title, text, customer, since, zone)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(c, str(n.event), n.at, *astuple(n.alert)) for c, n in outgoing],
            )

    def queue_depths(self) -> dict[str, int]:
        """How many notifications wait, by channel (those with any)."""
        sql = "SELECT channel, count(*) FROM alert_queue GROUP BY channel"
        return {channel: int(n) for channel, n in self._rows("counting queued notifications", sql)}

    def queued(self, channel: str | None = None, limit: int = 1000) -> list[Queued]:
        """At most ``limit`` queued notifications, oldest first, optionally of one channel."""
        where, args = (
            ("", (limit,)) if channel is None else ("WHERE channel = %s", (channel, limit))
        )
        sql = f"{_QUEUED} {where} ORDER BY id LIMIT %s"
        rows = self._rows("reading the alert queue", sql, args)
        return [store_rows.queued(row) for row in rows]

    def delivered(self, ids: Sequence[int]) -> None:
        """Remove these notifications from the queue: they were sent."""
        if ids:
            sql = "DELETE FROM alert_queue WHERE id = ANY(%s)"
            self._run("removing sent notifications", sql, (list(ids),))

    def delivery_failed(self, ids: Sequence[int], error: str) -> None:
        """Count one more failed attempt for these notifications; they stay queued."""
        if ids:
            sql = (
                "UPDATE alert_queue SET attempts = attempts + 1, last_error = %s WHERE id = ANY(%s)"
            )
            self._run("counting a failed notification", sql, (error, list(ids)))

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Keep security events."""
        with self._using("keeping security events") as db, db.cursor() as cur:
            cur.executemany(
                "INSERT INTO security_events (kind, at, address, who, detail)"
                " VALUES (%s, %s, %s, %s, %s)",
                [astuple(e) for e in events],
            )

    def security_events(
        self, since: int, limit: int = 10_000, *, newest: bool = False
    ) -> list[SecurityEvent]:
        """At most ``limit`` security events at or after ``since``, oldest first; with
        ``newest``, the newest ``limit`` of them, newest first."""
        rows = self._rows("reading security events", _EVENTS[newest], (since, limit))
        return [SecurityEvent(*row) for row in rows]

    def prune_security_events(self, before: int) -> int:
        """Remove the security events before ``before``; how many."""
        sql = "DELETE FROM security_events WHERE at < %s"
        return self._run("removing old security events", sql, (before,))

    def export_failed(self, failure: ExportFailure) -> None:
        """Record that the customer's export failed; ``since`` stays that of the first
        failure in a row."""
        self._run(
            "recording a failed export",
            "INSERT INTO export_failures VALUES (%s, %s, %s, %s) ON CONFLICT (customer)"
            " DO UPDATE SET day = EXCLUDED.day, reason = EXCLUDED.reason",
            astuple(failure),
        )

    def export_succeeded(self, customer: str) -> None:
        """Record that the customer's export succeeded: no failure of it stands."""
        sql = "DELETE FROM export_failures WHERE customer = %s"
        self._run("recording an export", sql, (customer,))

    def export_failures(self) -> list[ExportFailure]:
        """The customers whose last export failed, by customer."""
        sql = "SELECT customer, day, reason, since FROM export_failures ORDER BY customer"
        return [ExportFailure(*row) for row in self._rows("reading failed exports", sql)]


class PgAlertHistory(PgPart):
    """The alerts that ended (the AlertHistory port)."""

    def add_resolved(self, ended: Sequence[ResolvedAlert]) -> None:
        """Keep alerts that ended."""
        with self._using("keeping ended alerts") as db, db.cursor() as cur:
            cur.executemany(
                "INSERT INTO alert_history (resolved_at, key, severity, title, text, customer,"
                " since, zone) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(e.resolved_at, *astuple(e.alert)) for e in ended],
            )

    def resolved(self, since: int, limit: int = 500) -> list[ResolvedAlert]:
        """At most ``limit`` alerts that ended at or after ``since``, newest first."""
        rows = self._rows(
            "reading ended alerts",
            "SELECT resolved_at, key, severity, title, text, customer, since, zone"
            " FROM alert_history WHERE resolved_at >= %s ORDER BY resolved_at DESC, id DESC"
            " LIMIT %s",
            (since, max(limit, 0)),
        )
        return [ResolvedAlert(store_rows.alert(row[1:]), row[0]) for row in rows]

    def prune_resolved(self, before: int) -> int:
        """Forget the alerts that ended before ``before``; how many."""
        sql = "DELETE FROM alert_history WHERE resolved_at < %s"
        return self._run("removing old ended alerts", sql, (before,))
