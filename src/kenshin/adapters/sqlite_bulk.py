"""Bulk reads of the SQLite store for a day's export, on their own read connection.

A day of 100,000 meters is about five million readings. Turning each into a Python
row would take seconds, so SQLite packs each meter's boundary readings into one hex
string (slot index, forward, reverse: 4 + 8 + 8 hex digits per reading) and Python
unpacks it with ``struct``. Chunks of meters are read in a worker thread while the
caller works on the previous chunk: sqlite3 releases the GIL while SQLite runs, so
on two cores the read mostly overlaps the aggregation. WAL lets this connection read
while the writer writes.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache

from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.slots import SLOT_SECONDS

CHUNK = 4000  # meters per query
_HEX_PER_READING = 20
_PACKED = f"""
    SELECT w.pos, group_concat(
        printf('%04x%08x%08x', (r.t - ?1) / {SLOT_SECONDS},
               ifnull(r.fwd, {NO_REGISTER}), ifnull(r.rev, {NO_REGISTER})), '')
    FROM temp.wanted w CROSS JOIN meters m ON m.id = w.id
    CROSS JOIN readings r ON r.meter = m.key
    WHERE r.t BETWEEN ?1 AND ?2 AND (r.t - ?1) % {SLOT_SECONDS} = 0
    GROUP BY w.pos ORDER BY w.pos
"""  # noqa: S608 - only constants are formatted in


class SqliteBulkReader:
    """Reads boundary registers of many meters at once through its own connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
            self._db.execute("CREATE TEMP TABLE wanted (pos INTEGER PRIMARY KEY, id TEXT NOT NULL)")
        return self._db

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int
    ) -> Iterator[tuple[str, list[int], list[int]]]:
        """Registers at start + i * 1800 (i in 0..count) of each listed meter that has any."""
        chunks = [meter_ids[lo : lo + CHUNK] for lo in range(0, len(meter_ids), CHUNK)]
        if not chunks:
            return
        end = start + count * SLOT_SECONDS
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenshin-read") as pool:
            pending: Future[list[tuple[int, str]]] = pool.submit(self._fetch, chunks[0], start, end)
            for number, chunk in enumerate(chunks):
                rows = pending.result()
                if number + 1 < len(chunks):
                    pending = pool.submit(self._fetch, chunks[number + 1], start, end)
                for pos, packed in rows:
                    yield (chunk[pos], *_unpack(packed, count))

    def _fetch(self, chunk: Sequence[str], start: int, end: int) -> list[tuple[int, str]]:
        db = self._connection()
        db.execute("BEGIN")
        try:
            db.executemany("INSERT INTO temp.wanted VALUES (?, ?)", enumerate(chunk))
            return db.execute(_PACKED, (start, end)).fetchall()
        finally:
            db.execute("ROLLBACK")  # also empties temp.wanted

    def close(self) -> None:
        """Close the read connection."""
        if self._db is not None:
            self._db.close()
            self._db = None


@lru_cache(maxsize=8)
def _layout(readings: int) -> struct.Struct:
    return struct.Struct(">" + "HII" * readings)


@lru_cache(maxsize=8)
def _full_day(count: int) -> tuple[int, ...]:
    return tuple(range(count + 1))


def _unpack(packed: str, count: int) -> tuple[list[int], list[int]]:
    raw = bytes.fromhex(packed)
    values = _layout(len(packed) // _HEX_PER_READING).unpack(raw)
    indexes, fwd, rev = values[0::3], values[1::3], values[2::3]
    if indexes == _full_day(count):  # every boundary read, in order: the common case
        return list(fwd), list(rev)
    fwd_at, rev_at = [NO_REGISTER] * (count + 1), [NO_REGISTER] * (count + 1)
    for index, f, r in zip(indexes, fwd, rev, strict=True):
        fwd_at[index], rev_at[index] = f, r
    return fwd_at, rev_at
