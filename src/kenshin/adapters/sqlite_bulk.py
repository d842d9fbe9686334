"""Bulk reads of the SQLite store for a day's export, on their own read connection.

A day of 100,000 meters is about five million readings. Days that are packed
(``sqlite_days``) are read as one row per meter with a blob per UTC day; the
rest is read from the readings, which SQLite packs into one hex text per query,
each record in it carrying its grid row, so that Python never holds an object
per reading. numpy puts every value in place at once. The meters asked for
travel as one JSON array. WAL lets this connection read a consistent snapshot
while the writer writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
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
# Readings are keyed by (t, meter): for each half hour from ?2 to ?3, one sorted walk
# through the meters listed in ?1 (a JSON array of meter keys).
_READINGS = f"""
    WITH RECURSIVE b(t) AS (
        SELECT ?2 UNION ALL SELECT t + {SLOT_SECONDS} FROM b WHERE t + {SLOT_SECONDS} <= ?3)
    SELECT {packed_readings("r.meter", "?2")} FROM b
    CROSS JOIN readings r ON r.t = b.t AND r.meter IN (SELECT value FROM json_each(?1))
"""  # noqa: S608 - only constants are formatted in


def _packed_days(days: list[int]) -> str:
    """SQL giving each wanted meter's packed forward then reverse registers of ``days``."""
    joins = "".join(
        f" LEFT JOIN day_registers d{i} ON d{i}.meter = m.key AND d{i}.day = {day}"
        for i, day in enumerate(days)
    )
    columns = [f"d{i}.fwd" for i in range(len(days))] + [f"d{i}.rev" for i in range(len(days))]
    return f"SELECT w.key, {', '.join(columns)} FROM {_WANTED}{joins}"  # noqa: S608 - ints only


class SqliteBulkReader:
    """Reads boundary registers of many meters at once through its own connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._db: sqlite3.Connection | None = None

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count): one grid row per listed meter."""
        if self._db is None:
            self._db = self._connect()
        db = self._db
        wanted = json.dumps(list(meter_ids))
        end = start + count * SLOT_SECONDS
        db.execute("BEGIN")  # one snapshot for the packing state, packed days and readings
        try:
            if start % SLOT_SECONDS:  # a zone off the UTC half hours: packed days do not fit
                fwd, rev = (
                    empty_grid(len(meter_ids), count + 1),
                    empty_grid(len(meter_ids), count + 1),
                )
                _scatter_readings(db, wanted, start, end, fwd, rev)
                return fwd, rev
            first, last = start // DAY_SECONDS, end // DAY_SECONDS
            fwd, rev = _days(db, wanted, len(meter_ids), first, last)
            offset = (start - first * DAY_SECONDS) // SLOT_SECONDS
            return fwd[:, offset : offset + count + 1], rev[:, offset : offset + count + 1]
        finally:
            db.execute("ROLLBACK")

    def close(self) -> None:
        """Close the read connection."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _days(
    db: sqlite3.Connection, wanted: str, meters: int, first: int, last: int
) -> tuple[Registers, Registers]:
    """Grids of the whole UTC days first..last of the ``wanted`` meters (a JSON array)."""
    width = (last - first + 1) * PER_DAY
    fwd, rev = empty_grid(meters, width), empty_grid(meters, width)
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
        _place(rows, days, fwd, rev, first)
    unpacked = [day for day in range(first, last + 1) if day not in packed]
    if unpacked:  # readings are the record: where both are read, they agree
        lo, hi = unpacked[0] * DAY_SECONDS, (unpacked[-1] + 1) * DAY_SECONDS - SLOT_SECONDS
        offset = (lo - first * DAY_SECONDS) // SLOT_SECONDS
        columns = (hi - lo) // SLOT_SECONDS + 1
        _scatter_readings(
            db, wanted, lo, hi, fwd[:, offset : offset + columns], rev[:, offset : offset + columns]
        )
    return fwd, rev


def _scatter_readings(
    db: sqlite3.Connection, wanted: str, start: int, end: int, fwd: Registers, rev: Registers
) -> None:
    """Put the ``wanted`` meters' readings at start, start + 1800, ... end into the grids
    (views whose column 0 is ``start``), one grid row per meter listed."""
    listed = db.execute(f"SELECT w.key, m.key FROM {_WANTED}", (wanted,)).fetchall()  # noqa: S608
    if not listed:
        return
    rows, keys = np.array(listed, np.int64).T
    unique, where = np.unique(keys, return_inverse=True)
    (packed,) = db.execute(_READINGS, (json.dumps(unique.tolist()), start, end)).fetchone()
    found_fwd, found_rev = (
        empty_grid(len(unique), fwd.shape[1]),
        empty_grid(len(unique), fwd.shape[1]),
    )
    scatter(packed, found_fwd, found_rev, unique)
    fwd[rows] = found_fwd[where]
    rev[rows] = found_rev[where]


def _place(
    rows: list[tuple[Any, ...]], days: list[int], fwd: Registers, rev: Registers, first: int
) -> None:
    """Copy rows of ``_packed_days`` into their places in the grids."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    grid_rows = np.array(columns[0], np.int64)
    for grid, blobs in ((fwd, columns[1 : 1 + len(days)]), (rev, columns[1 + len(days) :])):
        by_day = grid.reshape(grid.shape[0], -1, PER_DAY)
        for day, blob in zip(days, blobs, strict=True):
            packed = b"".join([b or _NO_DAY for b in blob])
            by_day[grid_rows, day - first] = np.frombuffer(packed, "<u4").reshape(-1, PER_DAY)
