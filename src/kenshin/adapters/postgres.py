"""PostgreSQL store: the cluster's database, shared by every worker.

Each port is a part on one connection pool (``postgres_registry``, ``postgres_readings``,
``postgres_delivery``, ``postgres_alerts``, ``postgres_units``); the store lives in one
schema (namespace) of the database, ``kenshin`` unless the URL's ``schema`` parameter
names another. The schema is versioned (``postgres_schema``): a store newer than this
code is refused. The pool outlives restarts of PostgreSQL: each part takes a working
connection, and fails at once saying so while the server is down (``postgres_part``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from kenshin.adapters.postgres_alerts import PgAlertHistory, PgAlerts
from kenshin.adapters.postgres_cluster import PgLeadership, PgMembers
from kenshin.adapters.postgres_commands import PgCommands
from kenshin.adapters.postgres_delivery import PgDeliveries
from kenshin.adapters.postgres_operators import PgAuditLog, PgOperators
from kenshin.adapters.postgres_part import WAIT_S, connection, server_address, wrapped
from kenshin.adapters.postgres_readings import PgReadings
from kenshin.adapters.postgres_records import PgDeadLetters, PgRevisions
from kenshin.adapters.postgres_registry import PgCertificates, PgRegistry
from kenshin.adapters.postgres_schema import MIGRATIONS, migrate
from kenshin.adapters.postgres_units import PgUnitClocks
from kenshin.domain.model import Watermark
from kenshin.errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "kenshin"
# A connection of the pool that cannot be made again within this is given up (the pool
# connects anew when it is next asked for one): a long outage does not leave the pool
# trying again only minutes after the server is back.
RECONNECT_S = 2.0


def split_url(url: str) -> tuple[str, str]:
    """The connection URL without kenshin's own ``schema`` parameter, and that schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


class PostgresStore:
    """A Store in a PostgreSQL database; ``url`` is a libpq URL (``postgresql://...``)."""

    def __init__(
        self, url: str, *, create: bool = False, upgrade: bool = False, max_connections: int = 8
    ) -> None:
        conninfo, self.schema = split_url(url)
        name = sql.Identifier(self.schema)

        def configure(db: psycopg.Connection[Any]) -> None:
            db.execute(sql.SQL("SET search_path TO {}").format(name))
            # The store's queries are index lookups and bounded ranges: compiling them
            # (JIT, for large estimates) took longer than it saved.
            db.execute("SET jit = off")
            db.commit()

        with wrapped(f"connecting to {shown_url(conninfo)}"):
            with psycopg.connect(conninfo, connect_timeout=10) as db:
                self.upgraded_from = migrate(db, self.schema, create=create, upgrade=upgrade)
            self.version = len(MIGRATIONS)
            self._pool = ConnectionPool(
                conninfo,
                min_size=1,
                max_size=max_connections,
                configure=configure,
                open=True,
                timeout=WAIT_S,
                reconnect_timeout=RECONNECT_S,
                reconnect_failed=_reconnect_failed,
                name="kenshin",
            )
        pool = self._pool
        self.registry = PgRegistry(pool)
        self.certificates = PgCertificates(pool)
        self.commands = PgCommands(pool)
        self.readings = PgReadings(pool)
        self.dead_letters = PgDeadLetters(pool)
        self.revisions = PgRevisions(pool)
        self.deliveries = PgDeliveries(pool, lambda c: self.registry.get_customer(c) is not None)
        self.alerts = PgAlerts(pool)
        self.alert_history = PgAlertHistory(pool)
        self.unit_clocks = PgUnitClocks(pool)
        self.operators = PgOperators(pool)
        self.audit = PgAuditLog(pool)
        self.members = PgMembers(pool)
        self._conninfo = conninfo
        self._closed = False

    def watermark(self) -> Watermark:
        """How far the store has come: the newest meter, then the newest batch."""
        meter = self.registry.last_meter()
        return Watermark(self.readings.last_batch(), meter)

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Return if a write could begin now: a connection within ``timeout_s``, to a
        server that is not a read-only standby. StoreError saying why not otherwise."""
        what = "checking the database"
        with (
            wrapped(what, server_address(self._pool)),
            connection(self._pool, what, timeout_s) as db,
            db.transaction(),
        ):
            row = db.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and row[0]:
            raise StoreError("PostgreSQL store: the server is a read-only standby")

    def leadership(self) -> PgLeadership:
        """The lead among the workers of this store (a connection of its own)."""
        return PgLeadership(self._conninfo, self.schema)

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def close(self) -> None:
        """Close the pool's connections; closing again does nothing."""
        if not self._closed:
            self._closed = True
            self._pool.close()


def _reconnect_failed(pool: ConnectionPool) -> None:
    log.warning(
        "PostgreSQL at %s: no connection for %g s; trying again at the next use",
        server_address(pool),
        RECONNECT_S,
    )


def shown_url(conninfo: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(conninfo)
    if parts.password is None:
        return conninfo
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))
