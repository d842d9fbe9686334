"""The cluster's processes in the PostgreSQL store: heartbeats in a table, and the lead
as a session-level advisory lock on a connection of its own.

The lock is PostgreSQL's to release: when the leader's process ends, killed or not, its
connection closes and the lock goes with it; when its machine or network goes, the
server's TCP keepalives (set on that connection: about 11 s) end the session. Another
worker takes it at its next try (``cluster.leader_check_s``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import psycopg

from kenshin.adapters.postgres_part import PgPart
from kenshin.domain.cluster import Member

log = logging.getLogger(__name__)

SCHEMA = """
    -- Each process of a cluster (the workers) and its last heartbeat, by the
    -- database's clock; counts are its own figures (JSON).
    CREATE TABLE cluster_members (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
        started_at BIGINT NOT NULL, seen_at BIGINT NOT NULL, leader BOOLEAN NOT NULL,
        lag_s DOUBLE PRECISION NOT NULL, counts TEXT NOT NULL);
    -- What the leader keeps for whichever worker leads next (the last report's day...).
    CREATE TABLE cluster_notes (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_NOW = "CAST(extract(epoch FROM clock_timestamp()) AS BIGINT)"
_BEAT = """
    INSERT INTO cluster_members VALUES (%s, %s, %s, %s, %s,
        CAST(extract(epoch FROM clock_timestamp()) AS BIGINT), %s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, host = EXCLUDED.host,
        pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, seen_at = EXCLUDED.seen_at,
        leader = EXCLUDED.leader, lag_s = EXCLUDED.lag_s, counts = EXCLUDED.counts
    RETURNING seen_at"""
# The server ends a leader's session this soon after its peer stops answering.
_KEEPALIVES = (
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"
)


class PgMembers(PgPart):
    """Heartbeats on the store's pool."""

    def beat(self, member: Member) -> int:
        m, counts = member, json.dumps(member.counts)
        args = (m.name, m.role, m.host, m.pid, m.started_at, m.leader, m.lag_s, counts)
        return int(self._rows("recording a heartbeat", _BEAT, args)[0][0])

    def list_members(self) -> tuple[list[Member], int]:
        with self._using("reading the cluster's heartbeats") as db:
            rows = db.execute("SELECT * FROM cluster_members ORDER BY name").fetchall()
            now = db.execute(f"SELECT {_NOW}").fetchone()
        members = [
            Member(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8])) for r in rows
        ]
        return members, int(now[0]) if now else 0

    def forget(self, name: str) -> None:
        self._run("forgetting a process", "DELETE FROM cluster_members WHERE name = %s", (name,))

    def note(self, name: str) -> str | None:
        rows = self._rows(
            "reading a note", "SELECT value FROM cluster_notes WHERE name = %s", (name,)
        )
        return str(rows[0][0]) if rows else None

    def keep_note(self, name: str, value: str) -> None:
        sql = (
            "INSERT INTO cluster_notes VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
        )
        self._run("keeping a note", sql, (name, value))


class PgLeadership:
    """The lead as the advisory lock of the store's schema, held by one connection."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self._conninfo = conninfo
        self._key = f"kenshin leader {schema}"
        self._db: psycopg.Connection[Any] | None = None

    def try_lead(self) -> bool:
        if self._db is not None:
            try:
                self._db.execute("SELECT 1")
            except psycopg.Error as exc:
                log.error("the lead is lost: its connection to PostgreSQL failed (%s)", exc)  # noqa: TRY400 - the message says it
                self._drop()
                return False
            return True
        try:
            db = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            log.warning("cannot try to lead: PostgreSQL is not reachable (%s)", exc)
            return False
        try:
            db.execute(_KEEPALIVES)
            row = db.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self._key,)).fetchone()
        except psycopg.Error as exc:
            log.warning("cannot try to lead: %s", exc)
            db.close()
            return False
        if row is None or not row[0]:
            db.close()
            return False
        self._db = db
        return True

    def resign(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self._db is not None:
            with contextlib.suppress(psycopg.Error):
                self._db.close()  # the session ends: the lock with it
            self._db = None
