"""A day's 48 registers of a meter in a few bytes, for the SQLite store's packed days.

A register only grows over a day, by a few units a half hour: a row is kept as its
first register and the steps from each register to the next one there is, each in
the fewest bytes that hold the largest step of the row. The layout, little-endian
throughout:

- 1 byte: ``BETWEEN_READINGS`` (0x80) plus the width of a step, 1, 2 or 4 bytes;
- 6 bytes: which of the 48 half hours have a register (bit i of byte i // 8);
- 4 bytes: the first register there is (0 where none is);
- n - 1 steps for the n half hours with a register: each register minus the one
  before it, modulo 2**32.

So a household's full day is 58 bytes where each step is below 256 (0.1 kWh
registers up to 12.7 kW), 105 where below 65,536 and 199 otherwise (a rollover, an
exchange); half a day is about half that. Rows kept before are read as they are:
``RAW_BYTES`` (the 48 registers, ``NO_REGISTER`` where none), and a step at every half
hour (47 steps, a half hour without a register counting as the register before it;
its first byte is the width alone). Both ways go over a whole grid at once with numpy:
no Python per row beyond its bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from kenshin.domain.intervals import NO_REGISTER, Registers

_V = TypeVar("_V", bound=np.generic)

PER_DAY = 48
RAW_BYTES = 4 * PER_DAY
BETWEEN_READINGS = 0x80
_HEAD = 1 + PER_DAY // 8 + 4  # width, which half hours, the first register
WIDTHS = (1, 2, 4)
EVERY_HALF_HOUR = {_HEAD + (PER_DAY - 1) * width: width for width in WIDTHS}  # rows before


def encode(grid: Registers) -> list[bytes]:
    """Each row of ``grid`` (n x 48 registers, ``NO_REGISTER`` where none) in its bytes."""
    present = grid != NO_REGISTER
    kept, steps, firsts = steps_between(present, grid)  # uint32 steps: modulo 2**32
    firsts[~present.any(axis=1)] = 0  # a row without any: its bytes say none
    largest = steps.max(axis=1, initial=0)
    widths = np.where(largest < 1 << 8, 1, np.where(largest < 1 << 16, 2, 4))
    bits = np.packbits(present, axis=1, bitorder="little")
    head = np.concatenate(
        [
            (widths | BETWEEN_READINGS).astype(np.uint8)[:, None],
            bits,
            firsts[:, None].astype("<u4").view(np.uint8),
        ],
        axis=1,
    )
    counts = kept.sum(axis=1)
    out: list[bytes] = [b""] * len(grid)
    for width in WIDTHS:
        which = np.flatnonzero(widths == width)
        if not len(which):
            continue
        body = steps[which][kept[which]].astype(f"<u{width}").tobytes()
        ends = np.cumsum(counts[which] * width).tolist()
        for row, start, end in zip(which.tolist(), [0, *ends[:-1]], ends, strict=True):
            out[row] = head[row].tobytes() + body[start:end]
    return out


def steps_between(
    present: npt.NDArray[np.bool_], values: npt.NDArray[_V]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[_V], npt.NDArray[_V]]:
    """For rows of 48 half hours with values where ``present``: which steps are kept (from
    each value to the next of its row: n - 1 of n), every step (0 where none is kept),
    and each row's first value (the row's first column's where it has none)."""
    columns = np.arange(PER_DAY)
    known = np.maximum.accumulate(np.where(present, columns, -1), axis=1)
    first = np.argmax(present, axis=1)
    known = np.where(known < 0, first[:, None], known)
    filled = np.take_along_axis(values, known, axis=1)
    kept = present[:, 1:] & (columns[None, 1:] > first[:, None])
    return kept, np.diff(filled, axis=1), filled[:, 0].copy()


def decode(blobs: Sequence[bytes | None]) -> Registers:
    """The registers of each blob (None: a row without any), as a grid of n x 48.

    The blobs are joined once and cut by numpy: rows of one layout and size go through
    together, with no Python per row."""
    grid = np.full((len(blobs), PER_DAY), NO_REGISTER, np.uint32)
    parts = [blob or b"" for blob in blobs]
    sizes = np.fromiter(map(len, parts), np.int64, len(parts))
    rows = np.flatnonzero(sizes)
    if not len(rows):
        return grid
    data = np.frombuffer(b"".join(parts), np.uint8)
    starts = np.cumsum(sizes) - sizes
    kinds = np.where(sizes[rows] == RAW_BYTES, 0, data[starts[rows]])  # raw: any first byte
    layouts = kinds.astype(np.int64) << 16 | sizes[rows]
    for layout in np.unique(layouts).tolist():
        which = rows[layouts == layout]
        size = layout & 0xFFFF
        cut = data[starts[which][:, None] + np.arange(size)]
        grid[which] = _decoded(cut, layout >> 16, size)
    return grid


def _decoded(data: npt.NDArray[np.uint8], kind: int, size: int) -> Registers:
    """Rows of one layout and size: registers as they are, a step at every half hour,
    or steps between readings."""
    width = kind & ~BETWEEN_READINGS
    if size == RAW_BYTES:  # no other layout has this size
        return data.view("<u4").astype(np.uint32)
    if width not in WIDTHS or size < _HEAD or (size - _HEAD) % width:
        raise ValueError(f"packed registers of {size} bytes: not a layout this store wrote")
    if not kind & BETWEEN_READINGS and EVERY_HALF_HOUR.get(size) != width:
        raise ValueError(f"packed registers of {size} bytes: not a layout this store wrote")
    present = np.unpackbits(data[:, 1:7], axis=1, count=PER_DAY, bitorder="little") == 1
    first = np.ascontiguousarray(data[:, 7:11]).view("<u4").astype(np.uint32)
    steps = np.ascontiguousarray(data[:, _HEAD:]).view(f"<u{width}").astype(np.uint32)
    registers = np.concatenate([first, first + np.cumsum(steps, axis=1, dtype=np.uint32)], axis=1)
    if not kind & BETWEEN_READINGS:
        registers[~present] = NO_REGISTER
        return registers
    counts = present.sum(axis=1)
    if not ((counts == registers.shape[1]) | ((counts == 0) & (registers.shape[1] == 1))).all():
        raise ValueError(f"packed registers of {size} bytes: their half hours and steps differ")
    grid = np.full((len(data), PER_DAY), NO_REGISTER, np.uint32)
    grid[present] = registers[counts > 0].ravel()
    return grid
