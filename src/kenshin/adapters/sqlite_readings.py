"""Storing a batch of readings in the SQLite store: insert what is new at once, then
settle duplicates, completions and conflicts one by one only when there are any.
Packed days touched by late readings are rebuilt in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from kenshin.adapters import sqlite_days
from kenshin.adapters.sqlite_days import DAY_SECONDS
from kenshin.domain.model import Conflict, Reading, StoreResult
from kenshin.domain.readings import conflict_of, merge_reading

_KEY = itemgetter(0, 1)
Key = tuple[int, int]  # (meter key, t)


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
    in chunk order then time; inside a transaction, which empties temp.wanted when it ends."""
    db.executemany("INSERT INTO temp.wanted VALUES (?, ?)", enumerate(chunk))
    return db.execute(  # CROSS JOIN pins the join order: look the wanted meters up, never scan
        "SELECT w.pos, r.t, r.fwd, r.rev FROM temp.wanted w"
        " CROSS JOIN meters m ON m.id = w.id CROSS JOIN readings r ON r.meter = m.key"
        " WHERE r.t BETWEEN ? AND ? ORDER BY w.pos, r.t",
        (start, end),
    ).fetchall()


def store_batch(
    db: sqlite3.Connection, readings: Sequence[Reading], keys: dict[str, int], batch: int, at: int
) -> StoreResult:
    """Insert every new (meter, t) at once; settle the rest one by one only if there are any.

    A reading with neither register carries nothing: it is counted as a duplicate.
    """
    if any(r.fwd is None and r.rev is None for r in readings):
        usable = [r for r in readings if r.fwd is not None or r.rev is not None]
        result = store_batch(db, usable, keys, batch, at) if usable else StoreResult()
        return result + StoreResult(duplicates=len(readings) - len(usable))
    rows = [(keys[r.meter], r.t, r.fwd, r.rev, batch) for r in readings]
    _mark_reverse(db, {row[0] for row in rows if row[3] is not None})
    # Sorted, the B-tree is walked once instead of jumped about; a stable sort keeps the
    # first of readings repeated in the batch first, and that is the one inserted.
    sql = "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?)"
    inserted = db.executemany(sql, sorted(rows, key=_KEY)).rowcount
    if inserted == len(rows):
        return StoreResult(stored=inserted)
    offered = [(row[0], row[1]) for row in rows]
    return _settle(db, readings, offered, _stored_before(db, offered, batch), batch, at)


def _mark_reverse(db: sqlite3.Connection, meter_keys: set[int]) -> None:
    """Remember that these meters have a reverse register: one statement for them all."""
    if meter_keys:
        db.execute(
            "UPDATE meters SET reverse = 1"
            " WHERE key IN (SELECT value FROM json_each(?)) AND reverse = 0",
            (json.dumps(sorted(meter_keys)),),
        )


def repack_late(db: sqlite3.Connection, readings: Sequence[Reading], keys: dict[str, int]) -> None:
    """Keep packed days true to readings that arrived after their day was packed."""
    packed = sqlite_days.mark_reading_days(db, (r.t for r in readings))
    if packed:
        late = (
            (key, day)
            for key, day in ((keys[r.meter], r.t // DAY_SECONDS) for r in readings)
            if key < packed.get(day, 0)
        )
        sqlite_days.repack(db, late)


def _stored_before(db: sqlite3.Connection, keys: list[Key], batch: int) -> dict[Key, Reading]:
    """The readings among ``keys`` that earlier batches stored."""
    db.executemany("INSERT OR IGNORE INTO temp.offered VALUES (?, ?)", keys)
    rows = db.execute(  # CROSS JOIN pins the join order: look the keys up, never scan
        "SELECT r.meter, r.t, m.id, r.fwd, r.rev FROM temp.offered o"
        " CROSS JOIN readings r ON r.meter = o.meter AND r.t = o.t"
        " JOIN meters m ON m.key = r.meter WHERE r.batch <> ?",
        (batch,),
    ).fetchall()
    db.execute("DELETE FROM temp.offered")
    return {(k, t): Reading(meter, t, fwd, rev) for k, t, meter, fwd, rev in rows}


def _settle(
    db: sqlite3.Connection,
    readings: Sequence[Reading],
    keys: list[Key],
    state: dict[Key, Reading],
    batch: int,
    at: int,
) -> StoreResult:
    """Apply the batch in order to what was stored, as if the readings came one by one."""
    stored = duplicates = 0
    conflicts: list[tuple[Key, Conflict]] = []
    completed: set[Key] = set()
    for key, reading in zip(keys, readings, strict=True):
        old = state.get(key)
        if old is None:  # the first of its key in the batch, and inserted already
            state[key] = reading
            stored += 1
            continue
        merged = merge_reading(old, reading)
        if merged is None:
            conflicts.append((key, conflict_of(old, reading, at)))
        elif merged == old:
            duplicates += 1
        else:
            state[key] = merged
            completed.add(key)
            stored += 1
    db.executemany(
        "UPDATE readings SET fwd = ?, rev = ? WHERE meter = ? AND t = ?",
        [(state[k].fwd, state[k].rev, *k) for k in completed],
    )
    db.executemany(
        "INSERT OR IGNORE INTO conflicts"
        " (meter, t, stored_fwd, stored_rev, new_fwd, new_rev, batch)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*k, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev, batch) for k, c in conflicts],
    )
    return StoreResult(stored, duplicates, tuple(c for _, c in conflicts))
