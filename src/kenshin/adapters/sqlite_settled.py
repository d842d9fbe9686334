"""Settled days: old packed days that are the record of their readings, which are dropped.

A reading row costs some 27 bytes on disk, a meter's UTC day of them about 1,300. Once
a packed day (``sqlite_days``) is old enough that readings for it rarely come, ``settle``
makes each meter's row of it the record: the row keeps, beside its registers, each
reading's batch and send lag (``settled_blobs``), and the meter's readings of that day
are deleted. A settled meter-day is about 130 to 230 bytes with its key.

Nothing reads otherwise for it:

- a reading of a settled meter-day that comes later first puts the day's readings back
  as they were (``restore``), in the batch's transaction: duplicates, completions and
  conflicts are then told as for any stored reading, and the row is packed again;
- reads of readings (``settled_readings``) and reads as of an earlier batch take the
  readings a settled row holds, with their batches;
- a meter-day with a reading off the half hours (a zone like Kathmandu's), with send
  lags known for some readings only, or with a lag beyond a signed 32-bit number, is not
  settled: its readings stay.

``settled_days (day, upto)`` says how far settling has gone, as ``packed_days`` does for
packing: the meters with a key below ``upto`` were settled, a chunk per transaction. A
batch with readings of a day being settled or settled lowers ``upto`` to its first meter
of that day (a restored one, or one without readings then), so that the next pass
settles them too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from kenshin.adapters import day_blobs, settled_blobs
from kenshin.adapters.sqlite_days import DAY_SECONDS, DONE, PER_DAY, encode_grids, next_chunk
from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.slots import SLOT_SECONDS

CHUNK = 5000  # meters settled per transaction
NO_LAG = -(2**63)  # an unknown send lag, in the packed text of readings

SCHEMA = """
    -- Settled days (adapters/sqlite_settled.py): the row is the record of its readings.
    ALTER TABLE day_registers ADD COLUMN settled BLOB;
    CREATE TABLE settled_days (day INTEGER PRIMARY KEY, upto INTEGER NOT NULL);
"""
_HALF_HOURS = f"""
    WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < {PER_DAY - 1})
"""  # noqa: S608 - only constants are formatted in
# Every reading of the meters ?2..?3 at the half hours of the day starting ?1, as one
# hex text: key, half hour, registers, batch, lag.
_DAY_READINGS = f"""{_HALF_HOURS}
    SELECT group_concat(printf('%08x%04x%08x%08x%016x%016x', r.meter, h.i,
        ifnull(r.fwd, {NO_REGISTER}), ifnull(r.rev, {NO_REGISTER}), r.batch,
        ifnull(r.sent_lag, {NO_LAG})), '')
    FROM h CROSS JOIN readings r ON r.t = ?1 + h.i * {SLOT_SECONDS} AND r.meter BETWEEN ?2 AND ?3
"""  # noqa: S608 - only constants are formatted in
# The meters ?2..?3 with a reading between the half hours of the day starting ?1: each
# range read holds only such readings, which are few.
_OFF_HALF_HOURS = f"""{_HALF_HOURS}
    SELECT DISTINCT r.meter FROM h CROSS JOIN readings r
        ON r.t > ?1 + h.i * {SLOT_SECONDS} AND r.t < ?1 + (h.i + 1) * {SLOT_SECONDS}
    WHERE r.meter BETWEEN ?2 AND ?3
"""  # noqa: S608 - only constants are formatted in
_READING = np.dtype(
    [
        ("key", ">u4"),
        ("slot", ">u2"),
        ("fwd", ">u4"),
        ("rev", ">u4"),
        ("batch", ">i8"),
        ("lag", ">i8"),
    ]
)

_TIME_METER = itemgetter(1, 0)  # the readings' primary key is (t, meter)
# A reading as kept: meter key, t, forward, reverse, batch, send lag (None: not known).
Row = tuple[int, int, int | None, int | None, int, int | None]
# A settled row as read: meter key, day, forward and reverse blobs, newest batch, settled blob.
SettledRow = tuple[int, int, bytes, bytes | None, int, bytes]


def days_to_settle(db: sqlite3.Connection, before: int) -> list[int]:
    """Packed UTC days that ended at or before ``before``, not yet wholly settled."""
    sql = (
        "SELECT p.day FROM packed_days p LEFT JOIN settled_days s ON s.day = p.day"
        " WHERE p.day < ? AND p.upto >= ? AND (s.upto IS NULL OR s.upto < ?) ORDER BY p.day"
    )
    return [day for (day,) in db.execute(sql, (before // DAY_SECONDS, DONE, DONE)).fetchall()]


def settle_chunk(db: sqlite3.Connection, day: int) -> bool:
    """Settle the next chunk of meters of ``day``; True once the whole day is settled."""
    return next_chunk(
        db, "settled_days", day, CHUNK, lambda keys: _settle_meters(db, keys[0], keys[-1], day)
    )


def _settle_meters(db: sqlite3.Connection, low: int, high: int, day: int) -> None:
    """Settle ``day`` of the meters with keys low..high that can be; delete their readings."""
    start = day * DAY_SECONDS
    (text,) = db.execute(_DAY_READINGS, (start, low, high)).fetchone()
    found = np.frombuffer(bytes.fromhex(text or ""), _READING)
    if not len(found):
        return
    off = {key for (key,) in db.execute(_OFF_HALF_HOURS, (start, low, high)).fetchall()}
    keys, rows = np.unique(found["key"].astype(np.int64), return_inverse=True)
    shape = (len(keys), PER_DAY)
    present = np.zeros(shape, np.bool_)
    fwd, rev = np.full(shape, NO_REGISTER, np.uint32), np.full(shape, NO_REGISTER, np.uint32)
    batches, lags = np.zeros(shape, np.int64), np.full(shape, NO_LAG, np.int64)
    slots = found["slot"].astype(np.int64)
    present[rows, slots] = True
    fwd[rows, slots], rev[rows, slots] = found["fwd"], found["rev"]
    batches[rows, slots], lags[rows, slots] = found["batch"], found["lag"]
    unknown = (lags == NO_LAG) & present
    known = present & ~unknown
    out_of_range = known & ((lags < settled_blobs.LAG_MIN) | (lags > settled_blobs.LAG_MAX))
    mixed = unknown.any(axis=1) & known.any(axis=1)
    ok = ~mixed & ~out_of_range.any(axis=1) & ~np.isin(keys, list(off))
    for lagged in (True, False):  # rows whose lags are known, then those without
        which = np.flatnonzero(ok & (known.any(axis=1) == lagged))
        if len(which):
            _write(
                db,
                day,
                keys[which],
                (fwd[which], rev[which]),
                (present[which], batches[which], lags[which] if lagged else None),
            )
    _delete_readings(db, start, keys, ok, (low, high))


def _write(
    db: sqlite3.Connection,
    day: int,
    keys: npt.NDArray[np.int64],
    grids: tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]],
    kept: tuple[npt.NDArray[np.bool_], settled_blobs.Grid, settled_blobs.Grid | None],
) -> None:
    """Write the settled rows of ``keys``: registers, newest batch and the settled blob."""
    present, batches, lags = kept
    fwd_blobs, rev_blobs = encode_grids(*grids)
    settled = settled_blobs.encode(present, batches, lags)
    newest = settled_blobs.newest_batches(present, batches).tolist()
    db.executemany(
        "INSERT OR REPLACE INTO day_registers (meter, day, fwd, rev, batch, settled)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        zip(keys.tolist(), [day] * len(keys), fwd_blobs, rev_blobs, newest, settled, strict=True),
    )


def _delete_readings(
    db: sqlite3.Connection,
    start: int,
    keys: npt.NDArray[np.int64],
    settled: npt.NDArray[np.bool_],
    span: tuple[int, int],
) -> None:
    """Delete the day's readings of the settled meters: per half hour, a range of keys
    between two meters whose readings stay (meters without readings count as settled)."""
    stay = keys[~settled].tolist()
    low, high = span
    runs, first = [], low
    for key in stay:
        if key > first:
            runs.append((first, key - 1))
        first = key + 1
    if first <= high:
        runs.append((first, high))
    db.executemany(
        "DELETE FROM readings WHERE t = ? AND meter BETWEEN ? AND ?",
        [(start + i * SLOT_SECONDS, lo, hi) for lo, hi in runs for i in range(PER_DAY)],
    )


def restore(db: sqlite3.Connection, meter_keys: Sequence[int], days: Sequence[int]) -> None:
    """Put back the readings of settled meter-days among (``meter_keys[i]``, ``days[i]``)
    and unsettle them: a batch with readings of those days calls this first."""
    if not days:
        return
    settling = {
        day
        for (day,) in db.execute(
            "SELECT day FROM settled_days WHERE day BETWEEN ? AND ?", (min(days), max(days))
        ).fetchall()
    }  # days settled, or being settled: their rows say which meters are settled now
    if not settling.intersection(days):
        return  # a live batch: its days are never settled
    wanted = sorted({(k, d) for k, d in zip(meter_keys, days, strict=True) if d in settling})
    lowest: dict[int, int] = {}
    for key, day in wanted:  # settled again from there, by the next pass
        lowest[day] = min(key, lowest.get(day, key))
    db.executemany(
        "UPDATE settled_days SET upto = min(upto, ?) WHERE day = ?",
        [(key, day) for day, key in lowest.items()],
    )
    rows = _settled_rows(db, wanted)
    if not rows:
        return
    db.executemany(
        "INSERT INTO readings (meter, t, fwd, rev, batch, sent_lag) VALUES (?, ?, ?, ?, ?, ?)",
        sorted(readings_of_rows(rows), key=_TIME_METER),
    )
    db.executemany(
        "UPDATE day_registers SET settled = NULL WHERE meter = ? AND day = ?",
        [(key, day) for key, day, *_ in rows],
    )


def _settled_rows(db: sqlite3.Connection, pairs: Sequence[tuple[int, int]]) -> list[SettledRow]:
    """(key, day, fwd, rev, batch, settled) of the settled rows among ``pairs``."""
    db.executemany(
        "INSERT INTO temp.pairs VALUES (?, ?, ?)", [(i, *p) for i, p in enumerate(pairs)]
    )
    try:
        return db.execute(
            "SELECT d.meter, d.day, d.fwd, d.rev, d.batch, d.settled FROM temp.pairs p"
            " CROSS JOIN day_registers d ON d.meter = p.meter AND d.day = p.day"
            " WHERE d.settled IS NOT NULL"
        ).fetchall()
    finally:
        db.execute("DELETE FROM temp.pairs")


def readings_of_rows(rows: Sequence[SettledRow]) -> list[Row]:
    """The readings settled rows (key, day, fwd, rev, batch, settled) hold, in row order."""
    if not rows:
        return []
    fwd = day_blobs.decode([r[2] for r in rows])
    rev = day_blobs.decode([r[3] for r in rows])
    present = (fwd != NO_REGISTER) | (rev != NO_REGISTER)
    found: list[Row] = []
    for i, (key, day, _, _, newest, blob) in enumerate(rows):
        slots = np.flatnonzero(present[i]).tolist()
        batches, lags = settled_blobs.decode(blob, len(slots), newest)
        for n, slot in enumerate(slots):
            f, r = int(fwd[i, slot]), int(rev[i, slot])
            found.append(
                (
                    key,
                    day * DAY_SECONDS + slot * SLOT_SECONDS,
                    None if f == NO_REGISTER else f,
                    None if r == NO_REGISTER else r,
                    batches[n],
                    None if lags is None else lags[n],
                )
            )
    return found


def settled_readings(
    db: sqlite3.Connection, keys: Sequence[int], start: int, end: int
) -> list[Row]:
    """The readings that settled rows of the meters ``keys`` hold with start <= t <= end."""
    first, last = start // DAY_SECONDS, end // DAY_SECONDS
    if not db.execute(
        "SELECT 1 FROM settled_days WHERE day BETWEEN ? AND ? LIMIT 1", (first, last)
    ).fetchone():
        return []
    rows = db.execute(
        "SELECT d.meter, d.day, d.fwd, d.rev, d.batch, d.settled FROM json_each(?) w"
        " CROSS JOIN day_registers d ON d.meter = w.value AND d.day BETWEEN ? AND ?"
        " WHERE d.settled IS NOT NULL",
        (json.dumps(list(keys)), first, last),
    ).fetchall()
    return [r for r in readings_of_rows(rows) if start <= r[1] <= end]
