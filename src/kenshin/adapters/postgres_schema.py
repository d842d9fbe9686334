"""The PostgreSQL store's schema: one migration script per version, applied in order,
each store in a schema (namespace) of its own database.

``kenshin_schema.version`` counts the scripts that have run; a database newer than this
code is refused, so that an old kenshin never writes to a schema it does not know.
Migrations take an advisory lock: two processes starting at once migrate once.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from kenshin.adapters import (
    postgres_alerts,
    postgres_cluster,
    postgres_commands,
    postgres_delivery,
    postgres_operators,
    postgres_partitions,
    postgres_readings,
    postgres_records,
    postgres_registry,
    postgres_units,
)
from kenshin.errors import StoreError

# One script per schema version; a script once released never changes.
MIGRATIONS: tuple[str, ...] = (
    postgres_registry.SCHEMA
    + postgres_commands.SCHEMA
    + postgres_readings.SCHEMA
    + postgres_records.SCHEMA
    + postgres_delivery.SCHEMA
    + postgres_alerts.SCHEMA
    + postgres_units.SCHEMA,
    # 2: failed logins kept for every file server; the cluster's processes.
    postgres_delivery.FAILURES_SCHEMA + postgres_cluster.SCHEMA,
    # 3: readings in partitions of a month each, their rows moved there.
    postgres_partitions.MIGRATION,
    # 4: when the unit sent each reading, as seconds after its time (NULL: not known):
    # of two conflicting readings, the one sent first is kept.
    "ALTER TABLE readings ADD COLUMN sent_lag INTEGER;\n",
    # 5: operators' accounts, their sessions and API tokens, and the audit log.
    postgres_operators.SCHEMA,
    # 6: what operators said of alerts: acknowledged, silenced.
    postgres_alerts.MARKS_SCHEMA,
    # 7: the alerts that ended, kept for operators to look back on.
    postgres_alerts.HISTORY_SCHEMA,
)
_LOCK = 0x6B656E7368696E  # "kenshin": the advisory lock migrations take


def schema_version(db: psycopg.Connection[Any], schema: str) -> int:
    """The version of the store in ``schema``: 0 where there is none yet."""
    found = db.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name = 'kenshin_schema'",
        (schema,),
    ).fetchone()
    if found is None:
        return 0
    row = db.execute(
        sql.SQL("SELECT version FROM {}.kenshin_schema").format(sql.Identifier(schema))
    ).fetchone()
    return 0 if row is None else int(row[0])


def migrate(
    db: psycopg.Connection[Any], schema: str, *, create: bool = True, upgrade: bool = False
) -> int:
    """Check the store in ``schema`` is this code's version, or bring it there in one
    transaction: a new one with ``create`` or ``upgrade``, an older one with ``upgrade``
    only (``kenshin db upgrade``: every worker of a cluster must be new enough first).
    The version it was at. StoreError for a schema newer than this code, or one this
    call may not create or upgrade, saying what to do."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        version = schema_version(db, schema)
        if version > len(MIGRATIONS):
            raise StoreError(
                f"PostgreSQL store: schema {schema!r} has version {version}, newer than this"
                f" kenshin knows ({len(MIGRATIONS)}): upgrade kenshin"
            )
        if version == len(MIGRATIONS):
            return version
        if version == 0 and not (create or upgrade):
            raise StoreError(
                f"PostgreSQL store: no kenshin store in schema {schema!r}:"
                " run 'kenshin db upgrade' to create it"
            )
        if version > 0 and not upgrade:
            raise StoreError(
                f"PostgreSQL store: schema {schema!r} has version {version}, older than this"
                f" kenshin's ({len(MIGRATIONS)}): run 'kenshin db upgrade' (once every"
                " process using the store runs this kenshin or a newer one)"
            )
        name = sql.Identifier(schema)
        db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        db.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
        db.execute("CREATE TABLE IF NOT EXISTS kenshin_schema (version INTEGER NOT NULL)")
        for script in MIGRATIONS[version:]:
            db.execute(script)  # our own text, no parameters
        db.execute("DELETE FROM kenshin_schema")
        db.execute("INSERT INTO kenshin_schema VALUES (%s)", (len(MIGRATIONS),))
    return version
