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
import numpy.typing as npt

from kenshin.adapters.day_blobs import decode
from kenshin.adapters.sqlite_days import (
    DAY_SECONDS,
    DONE,
    PER_DAY,
    empty_grid,
    packed_readings,
    scatter,
)
from kenshin.adapters.sqlite_settled import settled_readings
from kenshin.domain.intervals import NO_REGISTER, Registers
from kenshin.domain.slots import SLOT_SECONDS

_WANTED = "json_each(?1) w CROSS JOIN meters m ON m.id = w.value"
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
        (grids,) = self.boundary_registers_of_days(meter_ids, [start], count, as_of)
        return grids

    def boundary_registers_of_days(
        self, meter_ids: Sequence[str], starts: Sequence[int], count: int, as_of: int | None = None
    ) -> list[tuple[Registers, Registers]]:
        """``boundary_registers`` from each of ``starts``, in one read: the meters are
        looked up once, and the packed rows of every day come in one query."""
        batch = _ANY_BATCH if as_of is None else as_of
        with self._connection() as db:
            return _read(db, meter_ids, starts, count, batch)

    def close(self) -> None:
        """Close the idle read connections; one in use is closed when its read ends.
        Closing again does nothing."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()


def _read(
    db: sqlite3.Connection, meter_ids: Sequence[str], starts: Sequence[int], count: int, batch: int
) -> list[tuple[Registers, Registers]]:
    """``boundary_registers_of_days`` on ``db``, in one read transaction."""
    wanted = json.dumps(list(meter_ids))
    db.execute("BEGIN")  # one snapshot for the packing state, packed days and readings
    try:
        if any(start % SLOT_SECONDS for start in starts):  # a zone off the UTC half hours:
            return [_off_half_hours(db, wanted, len(meter_ids), s, count, batch) for s in starts]
        spans = [(s // DAY_SECONDS, (s + count * SLOT_SECONDS) // DAY_SECONDS) for s in starts]
        days = sorted({day for first, last in spans for day in range(first, last + 1)})
        fwd, rev = _days(db, (meter_ids, wanted), days, batch)
        grids = []
        for start, (first, _) in zip(starts, spans, strict=True):
            column = days.index(first) * PER_DAY + (start - first * DAY_SECONDS) // SLOT_SECONDS
            window = slice(column, column + count + 1)  # the days of a span are in a run
            grids.append((fwd[:, window], rev[:, window]))
        return grids
    finally:
        db.execute("ROLLBACK")


def _off_half_hours(
    db: sqlite3.Connection, wanted: str, meters: int, start: int, count: int, batch: int
) -> tuple[Registers, Registers]:
    """A span whose half hours are not UTC ones, read from the readings: packed days do
    not fit it."""
    fwd, rev = empty_grid(meters, count + 1), empty_grid(meters, count + 1)
    _scatter_readings(db, wanted, start, start + count * SLOT_SECONDS, fwd, rev, batch)
    return fwd, rev


def _runs(days: list[int]) -> list[list[int]]:
    """Sorted ``days`` in runs of consecutive ones."""
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _days(
    db: sqlite3.Connection, meters: tuple[Sequence[str], str], days: list[int], batch: int
) -> tuple[Registers, Registers]:
    """Grids of the whole UTC ``days`` (sorted) of the meters (their ids, and the same as
    a JSON array), one after another, as of ``batch``: a packed day row newer is read
    from the readings."""
    meter_ids, wanted = meters
    width = len(days) * PER_DAY
    fwd, rev = empty_grid(len(meter_ids), width), empty_grid(len(meter_ids), width)
    packed = {
        day
        for (day,) in db.execute(
            "SELECT day FROM packed_days WHERE day BETWEEN ? AND ? AND upto >= ?",
            (days[0], days[-1], DONE),
        ).fetchall()
    } & set(days)
    column = {day: i * PER_DAY for i, day in enumerate(days)}

    def read_runs(of: list[int], ids: str, grids: tuple[Registers, Registers]) -> None:
        """Put the readings of the runs of days ``of`` into the grids' rows of ``ids``."""
        for run in _runs(of):
            lo, hi = run[0] * DAY_SECONDS, (run[-1] + 1) * DAY_SECONDS - SLOT_SECONDS
            part = slice(column[run[0]], column[run[-1]] + PER_DAY)
            _scatter_readings(db, ids, lo, hi, grids[0][:, part], grids[1][:, part], batch)

    if packed:
        on = sorted(packed)
        rows = db.execute(_packed_days(on), (wanted,)).fetchall()
        newer = _place(rows, [column[day] for day in on], fwd, rev, batch)
        if newer:  # made again from their readings, every day at once
            redo = json.dumps([meter_ids[row] for row in newer])
            again = empty_grid(len(newer), width), empty_grid(len(newer), width)
            read_runs(days, redo, again)
            fwd[newer], rev[newer] = again
    # Readings (and settled rows) are the record: where both are read, they agree.
    read_runs([day for day in days if day not in packed], wanted, (fwd, rev))
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
    _scatter_settled(db, unique, start, end, (found_fwd, found_rev), batch)
    fwd[rows] = found_fwd[where]
    rev[rows] = found_rev[where]


def _scatter_settled(
    db: sqlite3.Connection,
    keys: npt.NDArray[np.int64],
    start: int,
    end: int,
    grids: tuple[Registers, Registers],
    batch: int,
) -> None:
    """Put the readings that settled rows of the meters ``keys`` (sorted; a grid row
    each) hold at start, start + 1800, ... end, of ``batch`` or earlier, into the grids."""
    if start % SLOT_SECONDS:
        return  # settled rows hold readings on the UTC half hours only
    fwd, rev = grids
    for key, t, f, r, of_batch, _ in settled_readings(db, keys.tolist(), start, end):
        if of_batch <= batch:
            row, column = int(np.searchsorted(keys, key)), (t - start) // SLOT_SECONDS
            fwd[row, column] = NO_REGISTER if f is None else f
            rev[row, column] = NO_REGISTER if r is None else r


def _place(
    rows: list[tuple[Any, ...]],
    columns: list[int],
    fwd: Registers,
    rev: Registers,
    batch: int,
) -> list[int]:
    """Copy rows of ``_packed_days`` into the grids, each day's registers from its
    column in ``columns``; the grid rows with a packed day newer than ``batch`` (to be
    read from the readings instead)."""
    if not rows:
        return []
    found = list(zip(*rows, strict=True))
    grid_rows = np.array(found[0], np.int64)
    newer: list[int] = grid_rows[np.array(found[-1], np.int64) > batch].tolist()
    days = len(columns)
    for grid, blobs in ((fwd, found[1 : 1 + days]), (rev, found[1 + days : -1])):
        for column, blob in zip(columns, blobs, strict=True):
            grid[grid_rows, column : column + PER_DAY] = decode(blob)
    return newer
