"""PostgreSQL store: the registers of many meters at a day's boundaries, for the export.

For each boundary in order, its readings come as two binary int8 arrays: each reading's
meter key and forward register (-1 where none: NO_REGISTER once read as uint32) in one
value, and the same for the readings with a reverse register, most meters having none.
Two values a boundary instead of a row a reading, and no aggregate that outgrows its
memory; PostgreSQL spends its time on each element of an array, and two in one value
(and no reverse element where there is none) took a quarter less of it than three
arrays of int4. The range of the meters' keys bounds each boundary's index scan: a
chunk of the fleet reads its part of each half hour, not all of it. Where the listed
meters are most of their range, the others in it are read too and dropped by numpy
(cheaper than a filter).

PostgreSQL runs a query on one core: the boundaries of a read of many meters are split
in two halves, read at once on two connections. Each half is a transaction of its own,
as each chunk of a fleet's meters already is: as of a batch, they read the same.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg

_AT_BOUNDARIES = """
SELECT x.* FROM unnest(%s::bigint[]) WITH ORDINALITY b(t, n) CROSS JOIN LATERAL (
    SELECT array_send(array_agg((r.meter::int8 << 32) | (coalesce(r.fwd, -1) & 4294967295))),
        array_send(array_agg((r.meter::int8 << 32) | (r.rev & 4294967295))
            FILTER (WHERE r.rev IS NOT NULL))
    FROM readings r WHERE r.t = b.t AND r.meter BETWEEN %s AND %s AND r.batch <= %s {}) x
ORDER BY b.n
"""
_LISTED = _AT_BOUNDARIES.format("AND r.meter = ANY(%s::int4[])")
_IN_RANGE = _AT_BOUNDARIES.format("")
# The binary form of a one-dimensional int8 array without NULLs: a header, then each
# element's length and value.
_ARRAY_HEADER = 20
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])
# Meters from which a read is split across two connections: below, a second round trip
# costs more than it saves.
SPLIT_FROM = 1000

Keys = np.ndarray[Any, np.dtype[np.int32]]
Rows = list[Any]
# Runs a piece of work on a connection in a transaction of its own (``PgPart._once_more``).
Run = Callable[[str, Callable[[psycopg.Connection[Any]], Rows]], Rows]


def boundary_grids(run: Run, unique: Keys, times: list[int], batch: int) -> tuple[Keys, Keys]:
    """The forward and reverse registers of the meters whose keys ``unique`` lists (sorted,
    distinct) at ``times``, of readings of ``batch`` or earlier: a row per key, a column
    per time, -1 where none."""
    fwd = np.full((len(unique), len(times)), -1, np.int32)
    rev = fwd.copy()
    first, last = int(unique[0]), int(unique[-1])
    dense = 2 * len(unique) > last - first + 1
    listed = [] if dense else unique.tolist()

    def read(lo: int, hi: int) -> None:
        query, args = (
            (_IN_RANGE, (times[lo:hi], first, last, batch))
            if dense
            else (_LISTED, (times[lo:hi], first, last, batch, listed))
        )
        found = run(
            "reading boundary registers",
            lambda db: db.cursor(binary=True).execute(query, args).fetchall(),
        )
        _place(found, unique, dense, lo, (fwd, rev))

    half = len(times) // 2
    if len(unique) < SPLIT_FROM or not half:
        read(0, len(times))
        return fwd, rev
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenshin-pg-read") as pool:
        second = pool.submit(read, half, len(times))
        read(0, half)
        second.result()
    return fwd, rev


def _place(found: Rows, unique: Keys, dense: bool, column: int, grids: tuple[Keys, Keys]) -> None:
    """Put each boundary's registers (from ``column`` on) in the rows of their meters' keys."""
    span = int(unique[-1]) - int(unique[0]) + 1
    for at, arrays in enumerate(found, start=column):
        for grid, data in zip(grids, arrays, strict=True):
            meters, registers = _pairs(data)
            rows = np.searchsorted(unique, meters)
            if dense and len(unique) < span:  # drop the meters not listed
                kept = unique[np.minimum(rows, len(unique) - 1)] == meters
                rows, registers = rows[kept], registers[kept]
            grid[rows, at] = registers


def _pairs(data: bytes | None) -> tuple[Keys, Keys]:
    """The meter keys and registers packed in an int8 array without NULLs, in PostgreSQL's
    binary form (None: none): the key in the high 32 bits, the register in the low."""
    if not data or len(data) <= _ARRAY_HEADER:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    values = np.frombuffer(data, _ELEMENT, offset=_ARRAY_HEADER)["value"].astype(np.int64)
    meters: Keys = (values >> 32).astype(np.int32)
    registers: Keys = values.astype(np.uint32).view(np.int32)
    return meters, registers
