"""What a settled packed day keeps of each reading beyond its registers: the batch that
stored it and when the unit sent it, in a few bytes.

A settled day row (``sqlite_settled``) is the record of its meter's readings of that
UTC day: its registers are the row's packed registers (``day_blobs``), and this blob
holds, for each half hour with a reading in order, the reading's batch and its send
lag (seconds after its time; unknown for every reading of the row or for none). Both
change little from one half hour to the next, so each is kept as its first value and
the steps after it, in the fewest bytes that hold the row's largest step. The layout,
little-endian:

- 1 byte: the width of a batch step, 1, 2, 4 or 8 bytes (signed);
- 1 byte: the width of a lag step, 1, 2, 4 or 8 bytes (signed), or 0: no lag known;
- 8 bytes: the first reading's batch;
- 4 bytes, where lags are known: the first reading's lag;
- n - 1 batch steps, then n - 1 lag steps, for the n readings of the row.

A household's day of live readings is about 110 bytes (2-byte batch steps, 1-byte lag
steps); a day stored in one batch without send times is 57.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PER_DAY = 48
WIDTHS = (1, 2, 4, 8)
LAG_MIN, LAG_MAX = -(2**31), 2**31 - 1  # lags a row can keep: its first one takes 4 bytes

Grid = npt.NDArray[np.int64]


def encode(present: npt.NDArray[np.bool_], batches: Grid, lags: Grid | None) -> list[bytes]:
    """Each row's blob: ``present`` (n x 48) says which half hours have a reading,
    ``batches`` and ``lags`` (n x 48, read where present) their batch and lag; ``lags``
    None where no row has any known. Every row must have a reading."""
    mask, batch_steps, firsts = _steps(present, batches)
    widths = _widths(batch_steps)
    if lags is None:
        lag_steps, lag_firsts = np.zeros_like(batch_steps), np.zeros(len(present), np.int64)
        lag_widths = np.zeros(len(present), np.int64)
    else:
        _, lag_steps, lag_firsts = _steps(present, lags)
        lag_widths = _widths(lag_steps)
    counts = mask.sum(axis=1)
    out: list[bytes] = [b""] * len(present)
    for width, lag_width in {(int(w), int(v)) for w, v in zip(widths, lag_widths, strict=True)}:
        rows = np.flatnonzero((widths == width) & (lag_widths == lag_width))
        parts = _split(batch_steps[rows][mask[rows]].astype(f"<i{width}"), counts[rows] * width)
        lag_parts = (
            _split(lag_steps[rows][mask[rows]].astype(f"<i{lag_width}"), counts[rows] * lag_width)
            if lag_width
            else [b""] * len(rows)
        )
        for i, row in enumerate(rows.tolist()):
            head = bytes((width, lag_width)) + int(firsts[row]).to_bytes(8, "little", signed=True)
            if lag_width:
                head += int(lag_firsts[row]).to_bytes(4, "little", signed=True)
            out[row] = head + parts[i] + lag_parts[i]
    return out


def decode(blob: bytes, count: int) -> tuple[list[int], list[int] | None]:
    """The batches and the lags (None: not known) of a row's ``count`` readings."""
    width, lag_width = blob[0], blob[1]
    first = int.from_bytes(blob[2:10], "little", signed=True)
    at = 10
    lag_first = 0
    if lag_width:
        lag_first = int.from_bytes(blob[10:14], "little", signed=True)
        at = 14
    steps = np.frombuffer(blob, f"<i{width}", count - 1, at).astype(np.int64)
    batches = np.concatenate([[first], first + np.cumsum(steps)]).tolist()
    if not lag_width:
        return batches, None
    at += (count - 1) * width
    lag_steps = np.frombuffer(blob, f"<i{lag_width}", count - 1, at).astype(np.int64)
    return batches, np.concatenate([[lag_first], lag_first + np.cumsum(lag_steps)]).tolist()


def _steps(
    present: npt.NDArray[np.bool_], values: Grid
) -> tuple[npt.NDArray[np.bool_], Grid, Grid]:
    """Which steps are kept (from each reading to the next of its row), every step, and
    each row's first value."""
    columns = np.arange(PER_DAY)
    known = np.maximum.accumulate(np.where(present, columns, -1), axis=1)
    first = np.argmax(present, axis=1)
    known = np.where(known < 0, first[:, None], known)
    filled = np.take_along_axis(values, known, axis=1)
    mask = present[:, 1:] & (columns[None, 1:] > first[:, None])
    return mask, np.diff(filled, axis=1), filled[:, 0]


def _widths(steps: Grid) -> npt.NDArray[np.int64]:
    """The fewest bytes, of WIDTHS, holding each row's steps as signed numbers."""
    low, high = steps.min(axis=1, initial=0), steps.max(axis=1, initial=0)
    widths = np.full(len(steps), 8, np.int64)
    for width in reversed(WIDTHS[:-1]):
        fits = (low >= -(2 ** (8 * width - 1))) & (high < 2 ** (8 * width - 1))
        widths[fits] = width
    return widths


def _split(
    values: npt.NDArray[np.generic], sizes: Sequence[int] | npt.NDArray[np.int64]
) -> list[bytes]:
    """``values``' bytes cut into parts of ``sizes`` bytes, in order."""
    data = values.tobytes()
    ends = np.cumsum(sizes).tolist()
    return [data[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
