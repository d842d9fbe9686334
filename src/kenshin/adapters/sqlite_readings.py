"""Readings in the SQLite store (the Readings port): a batch inserts what is new at once,
then settles duplicates, completions and conflicts one by one only when there are any.
Packed days touched by late readings are rebuilt in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import ChainMap
from collections.abc import Callable, Iterator, Sequence, Set
from itertools import groupby, repeat
from operator import attrgetter, itemgetter
from typing import Any, cast

from kenshin.adapters import sqlite_days, sqlite_settled
from kenshin.adapters.sqlite_bulk import SqliteBulkReader
from kenshin.adapters.sqlite_days import DAY_SECONDS
from kenshin.adapters.sqlite_part import SqlitePart, wrapped
from kenshin.adapters.store_rows import sent_at, sent_lag, sent_lags
from kenshin.domain.intervals import Registers
from kenshin.domain.model import Conflict, Reading, StoreResult, Watermark
from kenshin.domain.readings import Key, check_registers, settle
from kenshin.errors import StoreError

_T, _FWD, _REV = attrgetter("t"), attrgetter("fwd"), attrgetter("rev")
_DAY_OF = DAY_SECONDS.__rfloordiv__  # t -> t // DAY_SECONDS
_TIME_METER = itemgetter(1, 0)  # the readings' primary key is (t, meter)
_POSITION_TIME = itemgetter(0, 1)
_METER = attrgetter("meter")
_CHUNK = 2000  # meters per readings_between query: bounds memory and how long the lock is held
_LAST = 2**63 - 1  # as of no batch in particular: every one


_IN_LIST = 500  # ids per IN (...) list


def new_meter_keys(db: sqlite3.Connection, meter_ids: set[str]) -> dict[str, int]:
    """Keys of ``meter_ids``, given now to those never seen before (in id order)."""
    missing = sorted(meter_ids)
    new_keys: dict[str, int] = {}
    if missing:
        db.executemany("INSERT OR IGNORE INTO meters (id) VALUES (?)", [(m,) for m in missing])
    for lo in range(0, len(missing), _IN_LIST):
        part = missing[lo : lo + _IN_LIST]
        sql = f"SELECT id, key FROM meters WHERE id IN ({','.join('?' * len(part))})"  # noqa: S608
        new_keys.update(db.execute(sql, part).fetchall())
    return new_keys


def readings_of(db: sqlite3.Connection, chunk: Sequence[str], start: int, end: int) -> list[Any]:
    """(position in ``chunk``, t, fwd, rev) of the chunk's meters' readings in start..end,
    in chunk order then time.

    Readings are keyed by time first: the range is read once, whatever the number of
    meters, which is cheap for a short range and a scan of the fleet's readings for a
    long one. The export reads packed days instead (``sqlite_days``).
    """
    positions: dict[int, list[int]] = {}
    for pos, key in db.execute(
        "SELECT w.key, m.key FROM json_each(?) w JOIN meters m ON m.id = w.value",
        (json.dumps(list(chunk)),),
    ).fetchall():
        positions.setdefault(key, []).append(pos)
    if not positions:
        return []
    keys = sorted(positions)
    rows = db.execute(
        "SELECT meter, t, fwd, rev FROM readings WHERE t BETWEEN ? AND ?"
        " AND meter IN (SELECT value FROM json_each(?))",
        (start, end, json.dumps(keys)),
    ).fetchall()
    rows += [row[:4] for row in sqlite_settled.settled_readings(db, keys, start, end)]
    found = [(pos, t, fwd, rev) for key, t, fwd, rev in rows for pos in positions[key]]
    found.sort(key=_POSITION_TIME)
    return found


def store_batch(
    db: sqlite3.Connection,
    readings: Sequence[Reading],
    meter_keys: Sequence[int],
    batch: int,
    at: int,
    reverse_known: Set[int] = frozenset(),
) -> tuple[StoreResult, set[int]]:
    """Insert every new (meter, t) at once; settle the rest one by one only if there are any.

    ``meter_keys`` are the readings' meters' keys, in the same order. A reading with
    neither register carries nothing: it is counted as a duplicate. Also returns the
    meters found to have a reverse register that ``reverse_known`` did not list.
    The UTC days whose readings the batch changed record it (``day_batches``).
    """
    result, reverse, changed = _store_batch(db, readings, meter_keys, batch, at, reverse_known)
    db.executemany(
        "INSERT INTO day_batches VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET batch = ?2",
        [(day, batch) for day in sorted(set(map(_DAY_OF, changed)))],
    )
    return result, reverse


def newest_batch(db: sqlite3.Connection, span: tuple[int, int]) -> int:
    """The newest batch that changed a reading of a UTC day touching the span (start,
    end); 0 if none."""
    start, end = span
    sql = "SELECT ifnull(max(batch), 0) FROM day_batches WHERE day BETWEEN ? AND ?"
    found: int = db.execute(sql, (start // DAY_SECONDS, end // DAY_SECONDS)).fetchone()[0]
    return found


def _store_batch(
    db: sqlite3.Connection,
    readings: Sequence[Reading],
    meter_keys: Sequence[int],
    batch: int,
    at: int,
    reverse_known: Set[int],
) -> tuple[StoreResult, set[int], set[int]]:
    """``store_batch``, with the times of the readings it changed."""
    fwd, rev = list(map(_FWD, readings)), list(map(_REV, readings))
    if None in fwd and any(f is None and r is None for f, r in zip(fwd, rev, strict=True)):
        usable = [i for i, r in enumerate(readings) if r.fwd is not None or r.rev is not None]
        result, reverse, changed = (
            _store_batch(
                db,
                [readings[i] for i in usable],
                [meter_keys[i] for i in usable],
                batch,
                at,
                reverse_known,
            )
            if usable
            else (StoreResult(), set(), set())
        )
        return result + StoreResult(duplicates=len(readings) - len(usable)), reverse, changed
    times = list(map(_T, readings))
    reverse = (
        set() if rev.count(None) == len(rev) else _mark_reverse(db, meter_keys, rev, reverse_known)
    )
    rows = list(zip(meter_keys, times, fwd, rev, repeat(batch), sent_lags(readings)))
    # Sorted by the key, the B-tree is walked once instead of jumped about; a stable sort
    # keeps the first of readings repeated in the batch first, and that is the one inserted.
    sql = "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?)"
    inserted = db.executemany(sql, sorted(rows, key=_TIME_METER)).rowcount
    if inserted == len(rows):
        return StoreResult(stored=inserted), reverse, set(times)
    offered = list(zip(meter_keys, times, strict=True))
    state = _stored_before(db, offered, batch)
    result, changed = _settle(db, readings, offered, state, batch, at)
    return result, reverse, changed


def _mark_reverse(
    db: sqlite3.Connection,
    meter_keys: Sequence[int],
    rev: Sequence[int | None],
    known: Set[int],
) -> set[int]:
    """Remember that these meters have a reverse register: one statement for those new."""
    if None in rev:
        found = {key for key, value in zip(meter_keys, rev, strict=True) if value is not None}
    else:
        found = set(meter_keys)
    new = found.difference(known)
    if new:
        db.execute(
            "UPDATE meters SET reverse = 1"
            " WHERE key IN (SELECT value FROM json_each(?)) AND reverse = 0",
            (json.dumps(sorted(new)),),
        )
    return new


def repack_late(db: sqlite3.Connection, meter_keys: Sequence[int], days: Sequence[int]) -> None:
    """Keep packed days true to readings that arrived after their day was packed: those
    of (``meter_keys[i]``, ``days[i]``)."""
    packed = sqlite_days.mark_reading_days(db, set(days))
    if packed:
        late = (
            (key, day)
            for key, day in zip(meter_keys, days, strict=True)
            if key < packed.get(day, 0)
        )
        sqlite_days.repack(db, late)


def _stored_before(db: sqlite3.Connection, keys: list[Key], batch: int) -> dict[Key, Reading]:
    """The readings among ``keys`` that earlier batches stored."""
    db.executemany(
        "INSERT OR IGNORE INTO temp.offered VALUES (?, ?)", sorted(keys, key=_TIME_METER)
    )
    rows = db.execute(  # CROSS JOIN pins the join order: look the keys up, never scan
        "SELECT r.meter, r.t, m.id, r.fwd, r.rev, r.sent_lag FROM temp.offered o"
        " CROSS JOIN readings r ON r.meter = o.meter AND r.t = o.t"
        " JOIN meters m ON m.key = r.meter WHERE r.batch <> ?",
        (batch,),
    ).fetchall()
    db.execute("DELETE FROM temp.offered")
    return {
        (k, t): Reading(meter, t, fwd, rev, sent_at(t, lag)) for k, t, meter, fwd, rev, lag in rows
    }


def _settle(
    db: sqlite3.Connection,
    readings: Sequence[Reading],
    keys: list[Key],
    state: dict[Key, Reading],
    batch: int,
    at: int,
) -> tuple[StoreResult, set[int]]:
    """Settle the batch (``domain.readings.settle``) and write the readings it changed and
    the conflicts it kept; also the times of the readings stored, completed or in conflict."""
    settled = settle(readings, keys, state, at)
    db.executemany(
        "UPDATE readings SET fwd = ?, rev = ?, sent_lag = ? WHERE meter = ? AND t = ?",
        [(r.fwd, r.rev, sent_lag(r), *k) for k, r in settled.updated],
    )
    db.executemany(
        "INSERT OR IGNORE INTO conflicts"
        " (meter, t, stored_fwd, stored_rev, new_fwd, new_rev, batch)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (*k, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev, batch)
            for k, c in settled.conflicts
        ],
    )
    return settled.result, settled.changed


class SqliteReadings(SqlitePart):
    """The Readings port on the store's connection; boundary registers are read on
    connections of their own (``sqlite_bulk``), several days at once (ReadingDays). Also
    Compacting (closed days packed) and Settling (old packed days become the record)."""

    def __init__(
        self, db: sqlite3.Connection, lock: threading.RLock, reader: SqliteBulkReader
    ) -> None:
        super().__init__(db, lock)
        self._reader = reader
        self._keys: dict[str, int] = {}  # meter id -> key; a key never changes once given
        self._reverse: set[int] = set()  # keys of meters marked as having a reverse register

    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch in one transaction; duplicates change nothing, conflicts are kept aside."""
        if not readings:
            return StoreResult()
        try:  # the bulk reader packs registers as 8 hex digits
            check_registers(readings)
        except ValueError as exc:
            raise StoreError(f"SQLite store: {exc}") from exc
        with self._lock:  # reentrant: the key cache changes under it, once committed
            with self._writing(f"storing {len(readings)} readings") as db:
                batch = db.execute("INSERT INTO batches (received_at) VALUES (?)", (received_at,))
                keys, new_keys = self._meter_keys(db, readings)
                days = list(map(_DAY_OF, map(_T, readings)))
                sqlite_settled.restore(db, keys, days)
                result, reverse = store_batch(
                    db, readings, keys, batch.lastrowid or 0, received_at, self._reverse
                )
                repack_late(db, keys, days)
            # Only once committed: a key or a mark of a rolled-back batch does not exist.
            self._keys.update(new_keys)
            self._reverse.update(reverse)
        return result

    def _meter_keys(
        self, db: sqlite3.Connection, readings: Sequence[Reading]
    ) -> tuple[list[int], dict[str, int]]:
        """The readings' meters' keys in order, and the keys given now to meters never seen."""
        meters = list(map(_METER, readings))
        known = list(map(self._keys.get, meters))
        if None not in known:
            return cast(list[int], known), {}
        new_keys = new_meter_keys(db, set(meters).difference(self._keys))
        return list(map(ChainMap(new_keys, self._keys).__getitem__, meters)), new_keys

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, with them sorted by t.

        Meters come in the order listed; each query reads a chunk of them.
        """
        for lo in range(0, len(meter_ids), _CHUNK):
            chunk = meter_ids[lo : lo + _CHUNK]
            for pos, group in groupby(self._read_chunk(chunk, start, end), key=itemgetter(0)):
                meter = chunk[pos]
                yield meter, [Reading(meter, t, fwd, rev) for _, t, fwd, rev in group]

    def _read_chunk(self, chunk: Sequence[str], start: int, end: int) -> list[Any]:
        with self._lock, wrapped("reading readings"):
            self._db.execute("BEGIN")
            try:
                return readings_of(self._db, chunk, start, end)
            finally:
                self._db.execute("ROLLBACK")

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count), NO_REGISTER where none; with
        ``as_of``, of readings of its batch or earlier.

        Read on a connection of its own: see ``sqlite_bulk``.
        """
        batch = None if as_of is None else as_of.batch
        with wrapped("reading boundary registers"):
            return self._reader.boundary_registers(meter_ids, start, count, batch)

    def boundary_registers_of_days(
        self,
        meter_ids: Sequence[str],
        starts: Sequence[int],
        count: int,
        as_of: Watermark | None = None,
    ) -> list[tuple[Registers, Registers]]:
        """``boundary_registers`` from each of ``starts``, in one read (ReadingDays)."""
        batch = None if as_of is None else as_of.batch
        with wrapped("reading boundary registers"):
            return self._reader.boundary_registers_of_days(meter_ids, starts, count, batch)

    def last_batch(self) -> int:
        """The newest batch's number."""
        sql = "SELECT ifnull(max(id), 0) FROM batches"
        found: int = self._rows("reading the newest batch", sql)[0][0]
        return found

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end; 0 if none."""
        return self._read("reading the days' newest batch", newest_batch, (start, end))

    def compact(self, before: int) -> int:
        """Pack every UTC day with readings that ended at or before ``before``; how many.

        A chunk of meters per transaction, so that writers wait a moment at most.
        """
        with self._lock, wrapped("listing days to pack"):
            days = sqlite_days.closed_days(self._db, before)
        return self._chunk_by_chunk("packing", days, sqlite_days.pack_chunk)

    def settle(self, before: int, most: int) -> int:
        """Settle the packed UTC days that ended at or before ``before``, ``most`` at most
        and the oldest first: their rows become the record and their readings go
        (``sqlite_settled``); how many days.

        A chunk of meters per transaction, so that writers wait a moment at most.
        """
        with self._lock, wrapped("listing days to settle"):
            days = sqlite_settled.days_to_settle(self._db, before)[:most]
        return self._chunk_by_chunk("settling", days, sqlite_settled.settle_chunk)

    def _chunk_by_chunk(
        self, what: str, days: list[int], chunk: Callable[[sqlite3.Connection, int], bool]
    ) -> int:
        """Run ``chunk`` on each day, a transaction each time, until it says the day is
        done; how many days."""
        for day in days:
            done = False
            while not done:
                with self._writing(f"{what} day {day * DAY_SECONDS}") as db:
                    done = chunk(db, day)
        return len(days)

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""
        sql = (
            "SELECT DISTINCT m.id, c.t FROM conflicts c JOIN meters m ON m.key = c.meter"
            " WHERE c.t BETWEEN ? AND ? AND m.id IN (SELECT value FROM json_each(?))"
            " AND c.batch <= ? ORDER BY m.id, c.t"
        )
        batch = _LAST if as_of is None else as_of.batch
        args = (start, end, json.dumps(list(meter_ids)), batch)
        return [(m, t) for m, t in self._rows("reading conflicts", sql, args)]

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""
        sql = (
            "SELECT m.id, c.t, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev, b.received_at"
            " FROM conflicts c JOIN meters m ON m.key = c.meter JOIN batches b ON b.id = c.batch"
            " ORDER BY c.id LIMIT ?"
        )
        return [Conflict(*r) for r in self._rows("listing conflicts", sql, (limit,))]
