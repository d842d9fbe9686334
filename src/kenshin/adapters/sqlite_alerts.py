"""Alert state, the notification queue and security events in the SQLite store.

Shares the store's one connection and its lock: the store composes it in as
``store.alerts``. Its tables come with the store's migrations (``sqlite_schema``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple

from kenshin.adapters import store_rows
from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.alerts import AlertMark, AlertState, Notification, Queued, ResolvedAlert
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import ExportFailure

SCHEMA = """
    -- Alerts active at the last evaluation: their latest form and when last notified.
    CREATE TABLE alert_states (
        key TEXT PRIMARY KEY, severity TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
        customer TEXT, since INTEGER NOT NULL, zone TEXT NOT NULL,
        notified_at INTEGER NOT NULL) WITHOUT ROWID;
    -- Notifications waiting for their channel, sent in id order; a sent one is removed.
    CREATE TABLE alert_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, event TEXT NOT NULL,
        at INTEGER NOT NULL, key TEXT NOT NULL, severity TEXT NOT NULL, title TEXT NOT NULL,
        text TEXT NOT NULL, customer TEXT, since INTEGER NOT NULL, zone TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');
    CREATE INDEX alert_queue_channel ON alert_queue (channel, id);
    -- Refusals that may be attacks, as the endpoint and the file servers reported them.
    CREATE TABLE security_events (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at INTEGER NOT NULL,
        address TEXT NOT NULL, who TEXT, detail TEXT NOT NULL);
    CREATE INDEX security_events_at ON security_events (at);
"""
# Customers whose last export failed, by the server's runs or by hand: the export
# alerts and readiness of the server come from here, so any export's success clears them.
EXPORT_FAILURES = """
    CREATE TABLE export_failures (
        customer TEXT PRIMARY KEY, day TEXT NOT NULL, reason TEXT NOT NULL,
        since INTEGER NOT NULL) WITHOUT ROWID;
"""
# What operators said of an alert's key: acknowledged (by, at), silenced (until, by).
MARKS_SCHEMA = """
    CREATE TABLE alert_marks (
        key TEXT PRIMARY KEY, acknowledged_by TEXT, acknowledged_at INTEGER,
        silenced_until INTEGER, silenced_by TEXT) WITHOUT ROWID;
"""
# Alerts that ended, newest looked at first; pruned after 90 days.
HISTORY_SCHEMA = """
    CREATE TABLE alert_history (
        id INTEGER PRIMARY KEY, resolved_at INTEGER NOT NULL, key TEXT NOT NULL,
        severity TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, customer TEXT,
        since INTEGER NOT NULL, zone TEXT NOT NULL);
    CREATE INDEX alert_history_at ON alert_history (resolved_at, id);
"""
_QUEUED = (
    "SELECT id, channel, attempts, last_error, event, at,"
    " key, severity, title, text, customer, since, zone FROM alert_queue"
)

# The security events at or after a time: oldest first, or (True) newest first.
_EVENTS = {
    False: "SELECT kind, at, address, who, detail FROM security_events WHERE at >= ?"
    " ORDER BY at, id LIMIT ?",
    True: "SELECT kind, at, address, who, detail FROM security_events WHERE at >= ?"
    " ORDER BY at DESC, id DESC LIMIT ?",
}


class SqliteAlerts(SqlitePart):
    """Alerts on the store's connection; ``lock`` is the store's."""

    def alert_states(self) -> dict[str, AlertState]:
        """The active alerts' stored states by key."""
        with self._using("reading alert states") as db:
            rows = db.execute(
                "SELECT key, severity, title, text, customer, since, zone, notified_at"
                " FROM alert_states"
            ).fetchall()
        return {row[0]: AlertState(store_rows.alert(row[:7]), row[7]) for row in rows}

    def alert_marks(self) -> dict[str, AlertMark]:
        """What operators said of alerts (acknowledged, silenced), by key."""
        with self._using("reading alert marks") as db:
            rows = db.execute("SELECT * FROM alert_marks").fetchall()
        return {row[0]: AlertMark(*row) for row in rows}

    def mark_alert(self, mark: AlertMark) -> None:
        """Keep ``mark`` as what operators said of its key, in place of any before."""
        with self._using("marking an alert", write=True) as db:
            db.execute("INSERT OR REPLACE INTO alert_marks VALUES (?, ?, ?, ?, ?)", astuple(mark))

    def save_round(
        self,
        states: Sequence[AlertState],
        resolved: Sequence[str],
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """In one transaction: save ``states``, forget the ``resolved`` keys, and queue each
        (channel, notification) of ``outgoing`` in order."""
        with self._using("saving alert states and notifications", write=True) as db:
            db.executemany(
                "INSERT OR REPLACE INTO alert_states VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*astuple(s.alert), s.notified_at) for s in states],
            )
            db.executemany("DELETE FROM alert_states WHERE key = ?", [(k,) for k in resolved])
            db.executemany(
                "INSERT INTO alert_queue (channel, event, at,"
                " key, severity, title, text, customer, since, zone)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(c, str(n.event), n.at, *astuple(n.alert)) for c, n in outgoing],
            )

    def queue_depths(self) -> dict[str, int]:
        """How many notifications wait, by channel (those with any)."""
        sql = "SELECT channel, count(*) FROM alert_queue GROUP BY channel"
        with self._using("counting queued notifications") as db:
            return dict(db.execute(sql).fetchall())

    def queued(self, channel: str | None = None, limit: int = 1000) -> list[Queued]:
        """At most ``limit`` queued notifications, oldest first, optionally of one channel."""
        sql = f"{_QUEUED} WHERE ?1 IS NULL OR channel = ?1 ORDER BY id LIMIT ?2"
        with self._using("reading the alert queue") as db:
            rows = db.execute(sql, (channel, limit)).fetchall()
        return [store_rows.queued(row) for row in rows]

    def delivered(self, ids: Sequence[int]) -> None:
        """Remove these notifications from the queue: they were sent."""
        with self._using("removing sent notifications", write=True) as db:
            db.executemany("DELETE FROM alert_queue WHERE id = ?", [(i,) for i in ids])

    def delivery_failed(self, ids: Sequence[int], error: str) -> None:
        """Count one more failed attempt for these notifications; they stay queued."""
        with self._using("counting a failed notification", write=True) as db:
            db.executemany(
                "UPDATE alert_queue SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(error, i) for i in ids],
            )

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Keep security events."""
        with self._using("keeping security events", write=True) as db:
            db.executemany(
                "INSERT INTO security_events (kind, at, address, who, detail)"
                " VALUES (?, ?, ?, ?, ?)",
                [astuple(e) for e in events],
            )

    def security_events(
        self, since: int, limit: int = 10_000, *, newest: bool = False
    ) -> list[SecurityEvent]:
        """At most ``limit`` security events at or after ``since``, oldest first; with
        ``newest``, the newest ``limit`` of them, newest first."""
        with self._using("reading security events") as db:
            rows = db.execute(_EVENTS[newest], (since, limit)).fetchall()
        return [SecurityEvent(*row) for row in rows]

    def prune_security_events(self, before: int) -> int:
        """Remove the security events before ``before``; how many."""
        with self._using("removing old security events", write=True) as db:
            return db.execute("DELETE FROM security_events WHERE at < ?", (before,)).rowcount

    def export_failed(self, failure: ExportFailure) -> None:
        """Record that the customer's export failed; ``since`` stays that of the first
        failure in a row."""
        with self._using("recording a failed export", write=True) as db:
            db.execute(
                "INSERT INTO export_failures VALUES (?, ?, ?, ?) ON CONFLICT (customer)"
                " DO UPDATE SET day = excluded.day, reason = excluded.reason",
                astuple(failure),
            )

    def export_succeeded(self, customer: str) -> None:
        """Record that the customer's export succeeded: no failure of it stands."""
        with self._using("recording an export", write=True) as db:
            db.execute("DELETE FROM export_failures WHERE customer = ?", (customer,))

    def export_failures(self) -> list[ExportFailure]:
        """The customers whose last export failed, by customer."""
        with self._using("reading failed exports") as db:
            rows = db.execute("SELECT * FROM export_failures ORDER BY customer").fetchall()
        return [ExportFailure(*row) for row in rows]


class SqliteAlertHistory(SqlitePart):
    """The alerts that ended, on the store's connection (the AlertHistory port)."""

    def add_resolved(self, ended: Sequence[ResolvedAlert]) -> None:
        """Keep alerts that ended."""
        with self._writing("keeping ended alerts") as db:
            db.executemany(
                "INSERT INTO alert_history (resolved_at, key, severity, title, text, customer,"
                " since, zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(e.resolved_at, *astuple(e.alert)) for e in ended],
            )

    def resolved(self, since: int, limit: int = 500) -> list[ResolvedAlert]:
        """At most ``limit`` alerts that ended at or after ``since``, newest first."""
        rows = self._rows(
            "reading ended alerts",
            "SELECT resolved_at, key, severity, title, text, customer, since, zone"
            " FROM alert_history WHERE resolved_at >= ? ORDER BY resolved_at DESC, id DESC"
            " LIMIT ?",
            (since, max(limit, 0)),
        )
        return [ResolvedAlert(store_rows.alert(row[1:]), row[0]) for row in rows]

    def prune_resolved(self, before: int) -> int:
        """Forget the alerts that ended before ``before``; how many."""
        with self._writing("removing old ended alerts") as db:
            return db.execute("DELETE FROM alert_history WHERE resolved_at < ?", (before,)).rowcount
