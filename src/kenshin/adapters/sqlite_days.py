"""Packed days: each meter's boundary registers of one UTC day in one row.

Readings are stored one row each, which is what ingest writes fastest; a day's
export of 100,000 meters then reads about five million rows. Once a UTC day has
closed, ``compact`` packs it: per meter, the 48 registers at the day's half hours
in one ``day_registers`` row (a first register and its steps: ``day_blobs``), so
the export reads 48 times fewer rows. Readings stay the record: a packed day is
rebuilt from them, in the same transaction, whenever a late reading changes one.

A packed day row also keeps the batch it is as of (``batch``): a read as of an
earlier batch takes the readings instead where a row is newer.

``packed_days (day, upto)`` says how far packing has gone: the meters with a key
below ``upto`` are packed, and ``DONE`` means every meter, now and later. A day is
packed a chunk of meters per transaction, so that ingest is never held up long.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from kenshin.adapters.day_blobs import encode
from kenshin.domain.intervals import NO_REGISTER, Registers
from kenshin.domain.slots import SLOT_SECONDS

DAY_SECONDS = 86_400
PER_DAY = DAY_SECONDS // SLOT_SECONDS
DONE = 1 << 62  # above any meter key
CHUNK = 5000  # meters packed per transaction

SCHEMA = """
    CREATE TABLE day_registers (
        meter INTEGER NOT NULL, day INTEGER NOT NULL, fwd BLOB NOT NULL, rev BLOB,
        PRIMARY KEY (meter, day)) WITHOUT ROWID;
    CREATE TABLE packed_days (day INTEGER PRIMARY KEY, upto INTEGER NOT NULL);
    CREATE TABLE reading_days (day INTEGER PRIMARY KEY);
    INSERT INTO reading_days SELECT DISTINCT t / 86400 FROM readings;
"""
TEMP_SCHEMA = "CREATE TEMP TABLE pairs (pos INTEGER PRIMARY KEY, meter INTEGER, day INTEGER)"


def packed_readings(row: str, origin: str) -> str:
    """SQL packing readings ``r`` into one hex text: per reading 8 + 4 + 8 + 8 digits, the
    grid ``row`` and the half hours since ``origin`` (SQL expressions), the forward and
    the reverse register. One text per query: no Python object per reading or meter."""
    return (
        f"group_concat(printf('%08x%04x%08x%08x', {row}, (r.t - {origin}) / {SLOT_SECONDS},"
        f" ifnull(r.fwd, {NO_REGISTER}), ifnull(r.rev, {NO_REGISTER})), '')"
    )


_READING = np.dtype([("row", ">u4"), ("slot", ">u2"), ("fwd", ">u4"), ("rev", ">u4")])
# The day's half hours, 0..PER_DAY - 1; readings are keyed by (t, meter), so a meter's
# registers of a day are PER_DAY lookups, and a range of meters PER_DAY range reads.
_HALF_HOURS = f"""
    WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < {PER_DAY - 1})
"""  # noqa: S608 - only constants are formatted in
_PAIR_READINGS = f"""{_HALF_HOURS}
    SELECT {packed_readings("p.pos", f"p.day * {DAY_SECONDS}")}
    FROM temp.pairs p CROSS JOIN h
        CROSS JOIN readings r ON r.t = p.day * {DAY_SECONDS} + h.i * {SLOT_SECONDS}
        AND r.meter = p.meter
"""  # noqa: S608 - only constants are formatted in
_RANGE_READINGS = f"""{_HALF_HOURS}
    SELECT {packed_readings("r.meter", "?1")}
    FROM h CROSS JOIN readings r ON r.t = ?1 + h.i * {SLOT_SECONDS} AND r.meter BETWEEN ?2 AND ?3
"""  # noqa: S608 - only constants are formatted in


def empty_grid(height: int, width: int) -> Registers:
    """A grid of registers with no reading anywhere."""
    return np.full((height, width), NO_REGISTER, dtype=np.uint32)


def scatter(
    packed: str | None, fwd: Registers, rev: Registers, keys: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.int64]:
    """Put the readings of ``packed_readings`` text into the register grids; their rows.

    Each reading's row field is its grid row, or, with ``keys`` (sorted), a key whose
    position in ``keys`` is the row.
    """
    readings = np.frombuffer(bytes.fromhex(packed or ""), _READING)
    rows = readings["row"].astype(np.int64)
    if keys is not None:
        rows = np.searchsorted(keys, rows)
    slots = readings["slot"].astype(np.int64)
    fwd[rows, slots] = readings["fwd"]
    rev[rows, slots] = readings["rev"]
    return rows


def mark_reading_days(db: sqlite3.Connection, days_of_readings: Iterable[int]) -> dict[int, int]:
    """Record UTC days that have readings; how far each of them is packed (day -> upto)."""
    days = sorted(set(days_of_readings))
    db.executemany("INSERT OR IGNORE INTO reading_days VALUES (?)", [(d,) for d in days])
    if not days:
        return {}
    rows = db.execute(
        "SELECT day, upto FROM packed_days WHERE day BETWEEN ? AND ?", (days[0], days[-1])
    ).fetchall()
    return dict(rows)


def repack(db: sqlite3.Connection, pairs: Iterable[tuple[int, int]]) -> None:
    """Rebuild the packed days of (meter key, day) pairs from their readings."""
    ordered = sorted(set(pairs))
    if not ordered:
        return
    db.executemany(
        "INSERT INTO temp.pairs VALUES (?, ?, ?)", [(i, *p) for i, p in enumerate(ordered)]
    )
    try:
        (packed,) = db.execute(_PAIR_READINGS).fetchone()
    finally:
        db.execute("DELETE FROM temp.pairs")
    fwd, rev = empty_grid(len(ordered), PER_DAY), empty_grid(len(ordered), PER_DAY)
    _save(db, ordered, fwd, rev, scatter(packed, fwd, rev))


def _pack_meters(db: sqlite3.Connection, keys: list[int], day: int) -> None:
    """Pack ``day`` of the meters ``keys``, every meter key from the first to the last."""
    (packed,) = db.execute(_RANGE_READINGS, (day * DAY_SECONDS, keys[0], keys[-1])).fetchone()
    fwd, rev = empty_grid(len(keys), PER_DAY), empty_grid(len(keys), PER_DAY)
    rows = scatter(packed, fwd, rev, np.array(keys, np.int64))
    _save(db, [(key, day) for key in keys], fwd, rev, rows)


def _save(
    db: sqlite3.Connection,
    pairs: list[tuple[int, int]],
    fwd: Registers,
    rev: Registers,
    rows: npt.NDArray[np.int64],
) -> None:
    """Write the packed days of ``pairs`` (grid rows in order); drop those without readings.
    Each is as of the newest batch: it holds every reading of its meter and day up to it."""
    found = np.unique(rows)
    (batch,) = db.execute("SELECT ifnull(max(id), 0) FROM batches").fetchone()
    fwd_blobs, rev_blobs = encode_grids(fwd[found], rev[found])
    db.executemany(  # a settled row made again is the readings' again: settled is NULL
        "INSERT OR REPLACE INTO day_registers (meter, day, fwd, rev, batch) VALUES (?, ?, ?, ?, ?)",
        [
            (*pairs[i], blob, reverse, batch)
            for i, blob, reverse in zip(found.tolist(), fwd_blobs, rev_blobs, strict=True)
        ],
    )
    kept = set(found.tolist())
    db.executemany(
        "DELETE FROM day_registers WHERE meter = ? AND day = ?",
        [pair for i, pair in enumerate(pairs) if i not in kept],
    )


def encode_grids(fwd: Registers, rev: Registers) -> tuple[list[bytes], list[bytes | None]]:
    """The packed forward and reverse registers of each row; None where a row has no
    reverse register."""
    reverse = np.flatnonzero((rev != NO_REGISTER).any(axis=1))
    reverse_blobs: list[bytes | None] = [None] * len(rev)
    for row, blob in zip(reverse.tolist(), encode(rev[reverse]), strict=True):
        reverse_blobs[row] = blob
    return encode(fwd), reverse_blobs


def closed_days(db: sqlite3.Connection, before: int) -> list[int]:
    """UTC days with readings, ended at or before ``before``, not yet wholly packed."""
    sql = (
        "SELECT r.day FROM reading_days r LEFT JOIN packed_days p ON p.day = r.day"
        " WHERE r.day < ? AND (p.upto IS NULL OR p.upto < ?) ORDER BY r.day"
    )
    return [day for (day,) in db.execute(sql, (before // DAY_SECONDS, DONE)).fetchall()]


def pack_chunk(db: sqlite3.Connection, day: int) -> bool:
    """Pack the next chunk of meters of ``day``; True once the whole day is packed."""
    return next_chunk(db, "packed_days", day, CHUNK, lambda keys: _pack_meters(db, keys, day))


def next_chunk(
    db: sqlite3.Connection,
    progress: str,
    day: int,
    size: int,
    work: Callable[[list[int]], None],
) -> bool:
    """Do ``work`` on the next ``size`` meter keys of ``day`` after its mark in the table
    ``progress`` (``packed_days``, ``settled_days``: day, upto) and move the mark past
    them, to ``DONE`` after the last; True once every meter is done."""
    mark = f"SELECT upto FROM {progress} WHERE day = ?"  # noqa: S608 - one of two tables
    row = db.execute(mark, (day,)).fetchone()
    upto = 0 if row is None else int(row[0])
    if upto >= DONE:
        return True
    keys = [
        key
        for (key,) in db.execute(
            "SELECT key FROM meters WHERE key >= ? ORDER BY key LIMIT ?", (upto, size)
        ).fetchall()
    ]
    if keys:
        work(keys)
    done = len(keys) < size
    db.execute(
        f"INSERT OR REPLACE INTO {progress} VALUES (?, ?)",  # noqa: S608 - one of two tables
        (day, DONE if done else keys[-1] + 1),
    )
    return done
