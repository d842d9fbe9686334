"""PostgreSQL store: the readings table in partitions, one per calendar month (UTC).

``readings`` is partitioned by range of t. Each month from 2000 to 2099 (the times a
unit's clock can give, ``domain.readings_json``) that has readings gets a partition of its
own, ``readings_YYYYMM``, made by the writer before it inserts, under the writers' lock:
made as a table of its own, then attached, which locks the readings table only against
other changes to its partitions, not against reads or writes. A reading of any other time
goes to ``readings_before_2000`` or ``readings_from_2100`` (no default partition: one
would be locked and scanned by every month attached). Retention drops whole months: under
the writers' lock a month wholly older than the cutoff is detached (which waits for the
reads under way, 5 s at most) and renamed ``expired_readings_YYYYMM``, then it is
counted and dropped without holding the writers up. A month left detached by a run that
stopped half way is dropped by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

DAY_SECONDS = 86_400
# The months with partitions of their own: 2000 to 2099, the times a unit's clock can give
# (``domain.readings_json``). Fixed for good: the partitions before and after hold the rest.
EARLIEST, LATEST = 946_684_800, 4_102_444_800
_OUTSIDE = ("readings_before_2000", "readings_from_2100")
_EXPIRING = 0x6B656E7368696E + 2  # the advisory lock each drop of an expired month takes
_EXPIRED = "expired_"  # the prefix of a month detached for dropping
_DETACH_WAIT_MS = 5000  # the longest a detach waits for reads: else the next run tries again

# Schema version 2: the readings of version 1 moved into partitions by month (the window
# written out: a released script never changes).
MIGRATION = """
ALTER TABLE readings RENAME TO readings_unpartitioned;
ALTER TABLE readings_unpartitioned RENAME CONSTRAINT readings_pkey TO readings_unpartitioned_pkey;
CREATE TABLE readings (
    t BIGINT NOT NULL, batch BIGINT NOT NULL, meter INTEGER NOT NULL,
    fwd INTEGER, rev INTEGER, PRIMARY KEY (t, meter)) PARTITION BY RANGE (t);
CREATE TABLE readings_before_2000 PARTITION OF readings FOR VALUES FROM (MINVALUE) TO (946684800);
CREATE TABLE readings_from_2100 PARTITION OF readings FOR VALUES FROM (4102444800) TO (MAXVALUE);
DO $$
DECLARE month TIMESTAMP;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', to_timestamp(t) AT TIME ZONE 'UTC')
        FROM readings_unpartitioned WHERE t >= 946684800 AND t < 4102444800
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%s) TO (%s)',
            'readings_' || to_char(month, 'YYYYMM'),
            extract(epoch FROM month AT TIME ZONE 'UTC')::BIGINT,
            extract(epoch FROM (month + INTERVAL '1 month') AT TIME ZONE 'UTC')::BIGINT);
    END LOOP;
END $$;
INSERT INTO readings SELECT t, batch, meter, fwd, rev FROM readings_unpartitioned;
DROP TABLE readings_unpartitioned;
"""
_MISSING = "SELECT n FROM unnest(%s::text[]) n WHERE to_regclass(n) IS NULL ORDER BY n"
_MONTHS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'readings'::regclass AND c.relname LIKE 'readings\\_______' ORDER BY 1
"""
_DETACHED = """
SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
    AND tablename LIKE 'expired\\_readings\\_______' ORDER BY 1
"""


def month_of(t: int) -> tuple[int, int]:
    """The first instant of the UTC month holding ``t`` and of the month after (epoch s)."""
    first = datetime.fromtimestamp(t, UTC).replace(day=1, hour=0, minute=0, second=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return int(first.timestamp()), int(following.timestamp())


def partition_name(month: int) -> str:
    """The partition of the UTC month starting at ``month``: ``readings_YYYYMM``."""
    first = datetime.fromtimestamp(month, UTC)
    return f"readings_{first.year:04d}{first.month:02d}"


def make_partitions(db: psycopg.Connection[Any], times: Iterable[int]) -> list[str]:
    """Make the month partitions the readings at ``times`` go to, where missing (the
    caller holds the writers' lock); the names of those made."""
    days = {t // DAY_SECONDS for t in set(times)}
    months = {
        month_of(day * DAY_SECONDS)
        for day in days
        if EARLIEST <= day * DAY_SECONDS < LATEST  # other times: the partitions outside
    }
    if not months:
        return []
    bounds = {partition_name(first): (first, end) for first, end in months}
    missing = [n for (n,) in db.execute(_MISSING, (sorted(bounds),)).fetchall()]
    for name in missing:
        first, end = bounds[name]
        table = sql.Identifier(name)
        db.execute(sql.SQL("CREATE TABLE {} (LIKE readings INCLUDING DEFAULTS)").format(table))
        db.execute(  # its primary key is made as it is attached
            sql.SQL("ALTER TABLE readings ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                table, sql.Literal(first), sql.Literal(end)
            )
        )
    return missing


def expired_before(before: int) -> int:
    """Where retention at ``before`` cuts: every reading older than it goes, none newer.
    Whole months of the window go, so a cutoff within one keeps all of that month."""
    return month_of(before)[0] if EARLIEST <= before < LATEST else before


def detach_expired(db: psycopg.Connection[Any], before: int) -> int:
    """Detach every month partition wholly older than ``before`` (renamed for
    ``drop_detached``), and delete the readings outside the months older than it, with
    the conflicts and day marks of what goes; how many readings were deleted. The caller
    holds the writers' lock."""
    cut = expired_before(before)
    # Detaching waits for the reads under way and holds up the others meanwhile: not long.
    db.execute(f"SET LOCAL lock_timeout = {_DETACH_WAIT_MS}")
    for (name,) in db.execute(_MONTHS).fetchall():
        first = int(datetime.strptime(name[-6:], "%Y%m").replace(tzinfo=UTC).timestamp())
        if month_of(first)[1] <= cut:
            table = sql.Identifier(name)
            db.execute(sql.SQL("ALTER TABLE readings DETACH PARTITION {}").format(table))
            expired = sql.Identifier(_EXPIRED + name)
            db.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(table, expired))
    deleted = sum(
        db.execute(
            sql.SQL("DELETE FROM {} WHERE t < %s").format(sql.Identifier(n)), (cut,)
        ).rowcount
        for n in _OUTSIDE
    )
    db.execute("DELETE FROM reading_conflicts WHERE t < %s", (cut,))
    db.execute("DELETE FROM reading_days WHERE day < %s", (cut // DAY_SECONDS,))
    return deleted


def detached(db: psycopg.Connection[Any]) -> list[str]:
    """The months detached for expiry and not dropped yet."""
    return [name for (name,) in db.execute(_DETACHED).fetchall()]


def drop_detached(db: psycopg.Connection[Any], name: str) -> int:
    """Count and drop a month detached for expiry; how many readings it held (0 if
    another process dropped it meanwhile)."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (_EXPIRING,))
    if db.execute("SELECT to_regclass(%s)", (name,)).fetchone() == (None,):
        return 0
    table = sql.Identifier(name)
    row = db.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    db.execute(sql.SQL("DROP TABLE {}").format(table))
    return int(row[0]) if row else 0
