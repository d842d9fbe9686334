"""Bulk reads of the SQLite store for a day's export, on their own read connection.

A day of 100,000 meters is about five million readings. Days that are packed
(``sqlite_days``) are read as one row per meter with a blob per UTC day; the
rest is read from the readings, which SQLite packs into one hex text per query,
each record in it carrying its grid row, so that Python never holds an object
per reading. numpy puts every value in place at once. The meters asked for
travel as one JSON array. WAL lets this connection read a consistent snapshot
while the writer writes. A read takes a connection no other read is using (opening
one when none is idle): the export and the daily report read at the same time in
threads of their own, and a connection holds one transaction at a time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from kenshin.adapters.sqlite_days import (
    DAY_SECONDS,
    DONE,
    PER_DAY,
    empty_grid,
    packed_readings,
    scatter,
)
from kenshin.domain.intervals import NO_REGISTER, Registers
from kenshin.domain.slots import SLOT_SECONDS

_WANTED = "json_each(?1) w CROSS JOIN meters m ON m.id = w.value"
_NO_DAY = np.full(PER_DAY, NO_REGISTER, "<u4").tobytes()
_ANY_BATCH = 2**63 - 1  # as of no batch in particular: every reading
# Readings are keyed by (t, meter): for each half hour from ?2 to ?3, one sorted walk
# through the meters listed in ?1 (a JSON array of meter keys).
_READINGS = f"""
    WITH RECURSIVE b(t) AS (
        SELECT ?2 UNION ALL SELECT t + {SLOT_SECONDS} FROM b WHERE t + {SLOT_SECONDS} <= ?3)
    SELECT {packed_readings("r.meter", "?2")} FROM b
    CROSS JOIN readings r ON r.t = b.t AND r.meter IN (SELECT value FROM json_each(?1))
    WHERE r.batch <= ?4
"""  # noqa: S608 - only constants are formatted in


def _packed_days(days: list[int]) -> str:
    """SQL giving each wanted meter's packed forward then reverse registers of ``days``."""
    joins = "".join(
        f" LEFT JOIN day_registers d{i} ON d{i}.meter = m.key AND d{i}.day = {day}"
        for i, day in enumerate(days)
    )
    columns = [f"d{i}.{c}" for c in ("fwd", "rev") for i in range(len(days))]
    newest = ", ".join(f"ifnull(d{i}.batch, 0)" for i in range(len(days)))
    newest = f"max({newest}, 0)" if len(days) > 1 else newest
    return f"SELECT w.key, {', '.join(columns)}, {newest} FROM {_WANTED}{joins}"  # noqa: S608


class SqliteBulkReader:
    """Reads boundary registers of many meters at once through connections of its own,
    one for each read under way."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for this read alone, kept for the next one afterwards (closed
        instead if the reader was closed meanwhile)."""
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the bulk reader is closed")
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = self._connect()
        try:
            yield db
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(db)
            if not keep:
                db.close()

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: int | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count): one grid row per listed meter;
        with ``as_of``, of the readings of that batch and earlier ones only."""
        batch = _ANY_BATCH if as_of is None else as_of
        with self._connection() as db:
            return _read(db, meter_ids, start, count, batch)

    def close(self) -> None:
        """Close the idle read connections; one in use is closed when its read ends.
        Closing again does nothing."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()


def _read(
    db: sqlite3.Connection, meter_ids: Sequence[str], start: int, count: int, batch: int
) -> tuple[Registers, Registers]:
    """``boundary_registers`` on ``db``, in one read transaction."""
    wanted = json.dumps(list(meter_ids))
    end = start + count * SLOT_SECONDS
    db.execute("BEGIN")  # one snapshot for the packing state, packed days and readings
    try:
        if start % SLOT_SECONDS:  # a zone off the UTC half hours: packed days do not fit
            fwd, rev = (
                empty_grid(len(meter_ids), count + 1),
                empty_grid(len(meter_ids), count + 1),
            )
            _scatter_readings(db, wanted, start, end, fwd, rev, batch)
            return fwd, rev
        first, last = start // DAY_SECONDS, end // DAY_SECONDS
        fwd, rev = _days(db, (meter_ids, wanted), first, last, batch)
        offset = (start - first * DAY_SECONDS) // SLOT_SECONDS
        return fwd[:, offset : offset + count + 1], rev[:, offset : offset + count + 1]
    finally:
        db.execute("ROLLBACK")


def _days(
    db: sqlite3.Connection,
    meters: tuple[Sequence[str], str],
    first: int,
    last: int,
    batch: int,
) -> tuple[Registers, Registers]:
    """Grids of the whole UTC days first..last of the meters (their ids, and the same as
    a JSON array), as of ``batch``: a packed day row newer is read from the readings."""
    meter_ids, wanted = meters
    width = (last - first + 1) * PER_DAY
    fwd, rev = empty_grid(len(meter_ids), width), empty_grid(len(meter_ids), width)
    packed = {
        day
        for (day,) in db.execute(
            "SELECT day FROM packed_days WHERE day BETWEEN ? AND ? AND upto >= ?",
            (first, last, DONE),
        ).fetchall()
    }
    if packed:
        days = sorted(packed)
        rows = db.execute(_packed_days(days), (wanted,)).fetchall()
        newer = _place(rows, days, fwd, rev, first, batch)
        if newer:  # made again from their readings, every day at once
            lo, hi = first * DAY_SECONDS, (last + 1) * DAY_SECONDS - SLOT_SECONDS
            redo = json.dumps([meter_ids[row] for row in newer])
            again = empty_grid(len(newer), width), empty_grid(len(newer), width)
            _scatter_readings(db, redo, lo, hi, *again, batch)
            fwd[newer], rev[newer] = again
    unpacked = [day for day in range(first, last + 1) if day not in packed]
    if unpacked:  # readings are the record: where both are read, they agree
        lo, hi = unpacked[0] * DAY_SECONDS, (unpacked[-1] + 1) * DAY_SECONDS - SLOT_SECONDS
        offset = (lo - first * DAY_SECONDS) // SLOT_SECONDS
        columns = (hi - lo) // SLOT_SECONDS + 1
        part = slice(offset, offset + columns)
        _scatter_readings(db, wanted, lo, hi, fwd[:, part], rev[:, part], batch)
    return fwd, rev


def _scatter_readings(
    db: sqlite3.Connection,
    wanted: str,
    start: int,
    end: int,
    fwd: Registers,
    rev: Registers,
    batch: int,
) -> None:
    """Put the ``wanted`` meters' readings at start, start + 1800, ... end of ``batch`` or
    earlier into the grids (views whose column 0 is ``start``), one row per meter listed."""
    listed = db.execute(f"SELECT w.key, m.key FROM {_WANTED}", (wanted,)).fetchall()  # noqa: S608
    if not listed:
        return
    rows, keys = np.array(listed, np.int64).T
    unique, where = np.unique(keys, return_inverse=True)
    keys_json = json.dumps(unique.tolist())
    (packed,) = db.execute(_READINGS, (keys_json, start, end, batch)).fetchone()
    found_fwd, found_rev = (
        empty_grid(len(unique), fwd.shape[1]),
        empty_grid(len(unique), fwd.shape[1]),
    )
    scatter(packed, found_fwd, found_rev, unique)
    fwd[rows] = found_fwd[where]
    rev[rows] = found_rev[where]


def _place(
    rows: list[tuple[Any, ...]],
    days: list[int],
    fwd: Registers,
    rev: Registers,
    first: int,
    batch: int,
) -> list[int]:
    """Copy rows of ``_packed_days`` into their places in the grids; the grid rows with a
    packed day newer than ``batch`` (to be read from the readings instead)."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    grid_rows = np.array(columns[0], np.int64)
    newer: list[int] = grid_rows[np.array(columns[-1], np.int64) > batch].tolist()
    for grid, blobs in ((fwd, columns[1 : 1 + len(days)]), (rev, columns[1 + len(days) : -1])):
        by_day = grid.reshape(grid.shape[0], -1, PER_DAY)
        for day, blob in zip(days, blobs, strict=True):
            packed = b"".join([b or _NO_DAY for b in blob])
            by_day[grid_rows, day - first] = np.frombuffer(packed, "<u4").reshape(-1, PER_DAY)
    return newer
