"""A day's 48 registers of a meter in a few bytes, for the SQLite store's packed days.

A register only grows over a day, by a few units a half hour: a row is kept as its
first register and the 47 steps after it, each in the fewest bytes that hold the
largest step of the row. The layout, little-endian throughout:

- 1 byte: the width of a step, 1, 2 or 4 bytes;
- 6 bytes: which of the 48 half hours have a register (bit i of byte i // 8);
- 4 bytes: the first register there is;
- 47 steps: register i + 1 minus register i, modulo 2**32, where a half hour without a
  register counts as the register before it (the first one's, before it).

So a row is 58 bytes where each step is below 256 (0.1 kWh registers up to 12.7 kW),
105 where below 65,536, and 199 otherwise (a rollover, an exchange). Rows kept before
(``RAW_BYTES``: the 48 registers as they are, ``NO_REGISTER`` where none) are read as
they are. Both ways go over a whole grid at once with numpy: no Python per row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from kenshin.domain.intervals import NO_REGISTER, Registers

PER_DAY = 48
RAW_BYTES = 4 * PER_DAY
_HEAD = 1 + PER_DAY // 8 + 4  # width, which half hours, the first register
WIDTHS = (1, 2, 4)
SIZES = {_HEAD + (PER_DAY - 1) * width: width for width in WIDTHS}


def encode(grid: Registers) -> list[bytes]:
    """Each row of ``grid`` (n x 48 registers, ``NO_REGISTER`` where none) in its bytes."""
    present = grid != NO_REGISTER
    rows, columns = np.indices(grid.shape)
    known = np.maximum.accumulate(np.where(present, columns, -1), axis=1)
    first = np.argmax(present, axis=1)  # 0 for a row without any: its bytes say none
    known = np.where(known < 0, first[:, None], known)
    filled = grid[rows, known].astype(np.uint32)
    filled[~present.any(axis=1)] = 0
    steps = np.diff(filled, axis=1)  # uint32: modulo 2**32
    largest = steps.max(axis=1, initial=0)
    widths = np.where(largest < 1 << 8, 1, np.where(largest < 1 << 16, 2, 4))
    bits = np.packbits(present, axis=1, bitorder="little")
    head = np.concatenate(
        [widths.astype(np.uint8)[:, None], bits, filled[:, :1].astype("<u4").view(np.uint8)],
        axis=1,
    )
    out: list[bytes] = [b""] * len(grid)
    for width in WIDTHS:
        which = np.flatnonzero(widths == width)
        if not len(which):
            continue
        body = steps[which].astype(f"<u{width}").view(np.uint8)
        packed = np.concatenate([head[which], body], axis=1)
        for row, blob in zip(which.tolist(), packed, strict=True):
            out[row] = blob.tobytes()
    return out


def decode(blobs: Sequence[bytes | None]) -> Registers:
    """The registers of each blob (None: a row without any), as a grid of n x 48."""
    grid = np.full((len(blobs), PER_DAY), NO_REGISTER, np.uint32)
    by_size: dict[int, list[int]] = {}
    for row, blob in enumerate(blobs):
        if blob:
            by_size.setdefault(len(blob), []).append(row)
    for size, rows in by_size.items():
        data = np.frombuffer(b"".join([blobs[row] or b"" for row in rows]), np.uint8)
        data = data.reshape(len(rows), size)
        grid[rows] = _decoded(data, size)
    return grid


def _decoded(data: npt.NDArray[np.uint8], size: int) -> Registers:
    """Rows of one size: registers as they are, or a first register and its steps."""
    if size == RAW_BYTES:
        return data.view("<u4").astype(np.uint32)
    width = SIZES.get(size)
    if width is None or not (data[:, 0] == width).all():
        raise ValueError(f"packed registers of {size} bytes: not a layout this store wrote")
    present = np.unpackbits(data[:, 1:7], axis=1, count=PER_DAY, bitorder="little")
    first = np.ascontiguousarray(data[:, 7:11]).view("<u4").astype(np.uint32)
    steps = np.ascontiguousarray(data[:, _HEAD:]).view(f"<u{width}").astype(np.uint32)
    registers = np.concatenate([first, first + np.cumsum(steps, axis=1, dtype=np.uint32)], axis=1)
    registers[present == 0] = NO_REGISTER
    return registers
