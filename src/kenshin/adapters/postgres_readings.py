"""PostgreSQL store: readings (the Readings port, and Expiring: retention by months).

A batch inserts what is new in one statement over arrays (``unnest``), then settles
duplicates, completions and conflicts one by one only when some readings were not new.
Writers take turns (an advisory lock for the transaction), so that batch numbers are
committed in order: a read as of a batch never sees a later one. Readings are keyed by
(t, meter) in partitions of a month each (``postgres_partitions``): a batch arrives in
time order and is appended near its month's index's right edge, and a day's boundaries
are read as one range of keys per half hour. A few meters' readings are looked up at
each time the range holds (found by skipping from one time to the next in the index),
not read from the whole fleet's range. Meters get an integer key of this part's own
(``reading_meters``), which keeps the readings' rows and index small. The boundary
registers of many meters are read as arrays, placed by numpy (``postgres_boundaries``).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from kenshin.adapters.postgres_boundaries import Keys, boundary_grids
from kenshin.adapters.postgres_part import PgPart
from kenshin.adapters.postgres_partitions import (
    DAY_SECONDS,
    detach_expired,
    detached,
    drop_detached,
    make_partitions,
)
from kenshin.adapters.store_rows import sent_at, sent_lag, sent_lags
from kenshin.domain.intervals import Registers
from kenshin.domain.model import Conflict, Reading, StoreResult, Watermark
from kenshin.domain.readings import Key, check_registers, settle
from kenshin.domain.slots import SLOT_SECONDS
from kenshin.errors import StoreError

SCHEMA = """
-- Readings: each meter seen gets a key of this part's own (the registry has its meters).
CREATE TABLE reading_meters (key SERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE);
CREATE TABLE reading_batches (id BIGSERIAL PRIMARY KEY, received_at BIGINT NOT NULL);
CREATE TABLE readings (
    t BIGINT NOT NULL, batch BIGINT NOT NULL, meter INTEGER NOT NULL,
    fwd INTEGER, rev INTEGER, PRIMARY KEY (t, meter));
CREATE TABLE reading_conflicts (
    id BIGSERIAL PRIMARY KEY, meter INTEGER NOT NULL, t BIGINT NOT NULL,
    stored_fwd INTEGER, stored_rev INTEGER, new_fwd INTEGER, new_rev INTEGER,
    batch BIGINT NOT NULL);
-- A conflict that comes again (a file imported twice) is kept once.
CREATE UNIQUE INDEX reading_conflicts_once ON reading_conflicts (meter, t,
    coalesce(stored_fwd, -1), coalesce(stored_rev, -1), coalesce(new_fwd, -1),
    coalesce(new_rev, -1));
CREATE INDEX reading_conflicts_time ON reading_conflicts (t);
-- The newest batch that stored, completed or conflicted with a reading of each UTC day.
CREATE TABLE reading_days (day INTEGER PRIMARY KEY, batch BIGINT NOT NULL);
"""

_WRITING = 0x6B656E7368696E + 1  # the advisory lock writers of readings take in turn
_LAST = 2**63 - 1  # as of no batch in particular: every one
_CHUNK = 2000  # meters per readings_between query
_T, _FWD, _REV, _METER = attrgetter("t"), attrgetter("fwd"), attrgetter("rev"), attrgetter("meter")

_INSERT = """
INSERT INTO readings (t, batch, meter, fwd, rev, sent_lag)
SELECT t, %s, meter, fwd, rev, sent_lag
FROM unnest(%s::int[], %s::bigint[], %s::int[], %s::int[], %s::int[])
    WITH ORDINALITY u(meter, t, fwd, rev, sent_lag, n)
ORDER BY t, meter, n
ON CONFLICT DO NOTHING
"""
# Each key looked up (LIMIT 1: the planner would rather scan the months and hash).
_STORED_BEFORE = """
SELECT o.meter, o.t, x.fwd, x.rev, x.sent_lag
FROM (SELECT DISTINCT * FROM unnest(%s::int[], %s::bigint[])) o(meter, t)
CROSS JOIN LATERAL (SELECT r.fwd, r.rev, r.sent_lag FROM readings r
    WHERE r.t = o.t AND r.meter = o.meter AND r.batch <> %s LIMIT 1) x
"""
_COMPLETE = """
UPDATE readings r SET fwd = u.fwd, rev = u.rev, sent_lag = u.lag
FROM unnest(%s::int[], %s::bigint[], %s::int[], %s::int[], %s::int[]) u(meter, t, fwd, rev, lag)
WHERE r.t = u.t AND r.meter = u.meter
"""
_KEEP_CONFLICTS = """
INSERT INTO reading_conflicts (meter, t, stored_fwd, stored_rev, new_fwd, new_rev, batch)
SELECT meter, t, sf, sr, nf, nr, %s
FROM unnest(%s::int[], %s::bigint[], %s::int[], %s::int[], %s::int[], %s::int[])
    WITH ORDINALITY u(meter, t, sf, sr, nf, nr, n)
ORDER BY n
ON CONFLICT DO NOTHING
"""
_MARK_DAYS = """
INSERT INTO reading_days (day, batch) SELECT unnest(%s::int[]), %s
ON CONFLICT (day) DO UPDATE SET batch = excluded.batch
"""
# The distinct times of the range, each found by one step in the index (a loose scan),
# then each listed meter's reading at each of them: as many lookups as meters times
# times, however many meters the fleet has.
_BETWEEN = """
WITH RECURSIVE times(t) AS (
    (SELECT t FROM readings WHERE t BETWEEN %(start)s AND %(end)s ORDER BY t LIMIT 1)
    UNION ALL
    SELECT (SELECT r.t FROM readings r WHERE r.t > times.t AND r.t BETWEEN %(start)s AND %(end)s
        ORDER BY r.t LIMIT 1)
    FROM times WHERE times.t IS NOT NULL)
SELECT w.n - 1, x.t, x.fwd, x.rev
FROM unnest(%(ids)s::text[]) WITH ORDINALITY w(id, n)
JOIN reading_meters m ON m.id = w.id
CROSS JOIN times
CROSS JOIN LATERAL (  -- LIMIT 1: one key; and a lookup the planner cannot turn into a scan
    SELECT r.t, r.fwd, r.rev FROM readings r
    WHERE r.t = times.t AND r.meter = m.key AND r.t BETWEEN %(start)s AND %(end)s LIMIT 1) x
ORDER BY w.n, x.t
"""


class PgReadings(PgPart):
    """The Readings port in PostgreSQL tables of its own."""

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__(pool)
        self._keys: dict[str, int] = {}  # meter id -> key; a key never changes once given
        self._last_listed: tuple[tuple[str, ...], Keys] | None = None

    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch in one transaction; duplicates change nothing, conflicts are kept aside."""
        if not readings:
            return StoreResult()
        try:
            check_registers(readings)
        except ValueError as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc
        with self._using(f"storing {len(readings)} readings") as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITING,))
            row = db.execute(
                "INSERT INTO reading_batches (received_at) VALUES (%s) RETURNING id",
                (received_at,),
            ).fetchone()
            batch = int(row[0]) if row else 0
            keys, new_keys = self._meter_keys(db, readings)
            result, changed = _store_batch(db, readings, keys, batch, received_at)
            days = sorted({t // DAY_SECONDS for t in changed})
            if days:
                db.execute(_MARK_DAYS, (_array(days), batch))
        self._keys.update(new_keys)  # only once committed: a rolled-back key does not exist
        return result

    def _meter_keys(
        self, db: psycopg.Connection[Any], readings: Sequence[Reading]
    ) -> tuple[list[int], dict[str, int]]:
        """The readings' meters' keys in order, and the keys given now to meters never seen."""
        meters = list(map(_METER, readings))
        missing = sorted(set(meters).difference(self._keys))
        new_keys: dict[str, int] = {}
        if missing:
            db.execute(
                "INSERT INTO reading_meters (id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (missing,),
            )
            rows = db.execute(
                "SELECT id, key FROM reading_meters WHERE id = ANY(%s)", (missing,)
            ).fetchall()
            new_keys = dict(rows)
        # A plain dict when no meter is new: lookups in a ChainMap are slow.
        known = ChainMap(new_keys, self._keys) if new_keys else self._keys
        return list(map(known.__getitem__, meters)), new_keys

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, with them sorted by t.

        Meters come in the order listed; each query reads a chunk of them.
        """
        for lo in range(0, len(meter_ids), _CHUNK):
            chunk = list(meter_ids[lo : lo + _CHUNK])
            args = {"ids": chunk, "start": start, "end": end}
            rows = self._rows("reading readings", _BETWEEN, args)
            for pos, group in groupby(rows, key=itemgetter(0)):
                meter = chunk[pos]
                yield meter, [Reading(meter, t, fwd, rev) for _, t, fwd, rev in group]

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count), NO_REGISTER where none; with
        ``as_of``, of readings of its batch or earlier.

        The listed meters' keys first (kept by this process), then each boundary's
        readings as three arrays, put in place by numpy at once.
        """
        times = [start + i * SLOT_SECONDS for i in range(count + 1)]
        batch = _LAST if as_of is None else as_of.batch
        keys = self._listed_keys(meter_ids)
        known = keys > 0
        unique = keys if _ascending(keys) else np.unique(keys[known])
        fwd = np.full((len(meter_ids), count + 1), -1, np.int32)
        if not len(unique):
            return fwd.view(np.uint32), fwd.copy().view(np.uint32)
        grid_fwd, grid_rev = boundary_grids(self._once_more, unique, times, batch)
        if unique is keys:  # every meter known, listed in the order of its key: as read
            return grid_fwd.view(np.uint32), grid_rev.view(np.uint32)
        rev = fwd.copy()
        where = np.searchsorted(unique, keys[known])
        fwd[known], rev[known] = grid_fwd[where], grid_rev[where]
        return fwd.view(np.uint32), rev.view(np.uint32)

    def _listed_keys(self, meter_ids: Sequence[str]) -> Keys:
        """The listed meters' keys in order, 0 for a meter never seen. Only the meters
        this process does not know yet are looked up: a key never changes once given.
        The keys of the last list whose meters were all known are kept as they are: an
        export reads a chunk of meters on each of its days."""
        listed = tuple(meter_ids)
        last = self._last_listed
        if last is not None and last[0] == listed:
            return last[1]
        missing = list(set(listed).difference(self._keys))
        if missing:
            query = "SELECT id, key FROM reading_meters WHERE id = ANY(%s)"
            self._keys.update(self._rows("reading meter keys", query, (missing,)))
        get = self._keys.get
        keys = np.fromiter((get(m, 0) for m in listed), np.int32, len(listed))
        if keys.all():
            self._last_listed = (listed, keys)
        return keys

    def expire(self, before: int) -> int:
        """Drop every month of readings wholly older than ``before`` (UTC epoch s), with
        their conflicts; how many readings went. Months are detached under the writers'
        lock, then counted and dropped one by one without it."""
        with self._using("expiring readings") as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITING,))
            gone = detach_expired(db, before)
        with self._using("listing expired readings") as db:
            names = detached(db)
        for name in names:
            with self._using(f"dropping the expired readings of {name}") as db:
                gone += drop_detached(db, name)
        return gone

    def last_batch(self) -> int:
        """The newest batch's number."""
        query = "SELECT coalesce(max(id), 0) FROM reading_batches"
        return int(self._rows("reading the newest batch", query)[0][0])

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end; 0 if none."""
        query = "SELECT coalesce(max(batch), 0) FROM reading_days WHERE day BETWEEN %s AND %s"
        args = (start // DAY_SECONDS, end // DAY_SECONDS)
        return int(self._rows("reading the days' newest batch", query, args)[0][0])

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch. The meters go by their keys (kept by this
        process): integers, not thousands of strings to adapt."""
        query = (
            "SELECT DISTINCT m.id, c.t FROM reading_conflicts c"
            " JOIN reading_meters m ON m.key = c.meter"
            " WHERE c.t BETWEEN %s AND %s AND c.meter = ANY(%s::int4[]) AND c.batch <= %s"
            " ORDER BY m.id, c.t"
        )
        batch = _LAST if as_of is None else as_of.batch
        keys = self._listed_keys(meter_ids)
        args = (start, end, _array(keys[keys > 0].tolist()), batch)
        return [(m, t) for m, t in self._rows("reading conflicts", query, args)]

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""
        query = (
            "SELECT m.id, c.t, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev, b.received_at"
            " FROM reading_conflicts c JOIN reading_meters m ON m.key = c.meter"
            " JOIN reading_batches b ON b.id = c.batch ORDER BY c.id LIMIT %s"
        )
        return [Conflict(*r) for r in self._rows("listing conflicts", query, (limit,))]


def _store_batch(
    db: psycopg.Connection[Any],
    readings: Sequence[Reading],
    meter_keys: Sequence[int],
    batch: int,
    at: int,
) -> tuple[StoreResult, set[int]]:
    """Insert every new (meter, t) at once; settle the rest one by one only if there are
    any. A reading with neither register carries nothing: it counts as a duplicate. Also
    the times of the readings stored, completed or in conflict."""
    usable = [i for i, r in enumerate(readings) if r.fwd is not None or r.rev is not None]
    empty = StoreResult(duplicates=len(readings) - len(usable))
    if len(usable) < len(readings):
        readings = [readings[i] for i in usable]
        meter_keys = [meter_keys[i] for i in usable]
    if not readings:
        return empty, set()
    times = list(map(_T, readings))
    make_partitions(db, times)
    columns = (
        _array(meter_keys),
        _array(times),
        _array(map(_FWD, readings)),
        _array(map(_REV, readings)),
        _array(sent_lags(readings)),
    )
    inserted = db.execute(_INSERT, (batch, *columns)).rowcount
    if inserted == len(readings):
        return empty + StoreResult(stored=inserted), set(times)
    offered = list(zip(meter_keys, times, strict=True))
    # The rest settled as in domain.readings: what changed written, the conflicts kept.
    settled = settle(readings, offered, _stored_before(db, readings, offered, batch), at)
    _write_settled(db, settled.updated, settled.conflicts, batch)
    return empty + settled.result, settled.changed


def _stored_before(
    db: psycopg.Connection[Any], readings: Sequence[Reading], keys: list[Key], batch: int
) -> dict[Key, Reading]:
    """The readings among ``keys`` that earlier batches stored."""
    ids = {key: reading.meter for key, reading in zip(keys, readings, strict=True)}
    meters, times = [k for k, _ in keys], [t for _, t in keys]
    rows = db.execute(_STORED_BEFORE, (_array(meters), _array(times), batch)).fetchall()
    return {
        (k, t): Reading(ids[(k, t)], t, fwd, rev, sent_at(t, lag)) for k, t, fwd, rev, lag in rows
    }


def _write_settled(
    db: psycopg.Connection[Any],
    updated: list[tuple[Key, Reading]],
    conflicts: list[tuple[Key, Conflict]],
    batch: int,
) -> None:
    """Write the readings changed and keep the conflicts aside (each once)."""
    if updated:
        columns = zip(*((*k, r.fwd, r.rev, sent_lag(r)) for k, r in updated), strict=True)
        db.execute(_COMPLETE, [_array(c) for c in columns])
    if conflicts:
        rows = [(*k, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev) for k, c in conflicts]
        db.execute(_KEEP_CONFLICTS, (batch, *[_array(c) for c in zip(*rows, strict=True)]))


def _array(values: Iterable[int | None]) -> str:
    """A column of integers (None: NULL) as an array's text, cast by the query: one
    join, where psycopg's list dumper takes each element through its adapters in Python
    (most of a batch's client time)."""
    return "{" + ",".join(["NULL" if v is None else str(v) for v in values]) + "}"


def _ascending(keys: Keys) -> bool:
    """Whether every key is known (not 0) and each is above the one before."""
    return bool(len(keys)) and bool(keys[0] > 0) and bool((keys[1:] > keys[:-1]).all())
