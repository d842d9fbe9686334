"""What a settled packed day keeps of each reading beyond its registers: the batch that
stored it and when the unit sent it, in a few bytes.

A settled day row (``sqlite_settled``) is the record of its meter's readings of that
UTC day: its registers are the row's packed registers (``day_blobs``), and this blob
holds, for each half hour with a reading in order, the reading's batch and its send
lag (seconds after its time; unknown for every reading of the row or for none). Both
change little from one half hour to the next, so each is kept as its first value and
the steps after it, in the fewest bytes that hold the row's largest step. The layout:

- 1 byte: how wide a batch step is (low 4 bits) and a lag step (high 4 bits), as a
  code: 0 none (no lag known), 1 half a byte, 2 one byte, 3 two, 4 four, 5 eight;
- the newest batch of the row (its ``batch`` column) minus the first reading's, as an
  unsigned LEB128 varint;
- where lags are known, the first reading's lag, zigzag then LEB128;
- n - 1 batch steps, then n - 1 lag steps, for the n readings of the row: signed,
  little-endian; half bytes two to a byte, the first in the low half, the last byte
  padded with 0.

A household's day of live readings is about 52 to 150 bytes (a reading every half
hour; batches up to 7, 127 or 32,767 apart; sends a few seconds apart from one half
hour to the next); half a day about half that.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kenshin.adapters.day_blobs import steps_between

LAG_MIN, LAG_MAX = -(2**31), 2**31 - 1  # the lags a row keeps
NO_LAGS = 0
HALF = 1
_BYTES = {2: 1, 3: 2, 4: 4, 5: 8}  # code -> bytes a step
_LIMITS = [(HALF, 8), (2, 1 << 7), (3, 1 << 15), (4, 1 << 31), (5, 1 << 63)]

Grid = npt.NDArray[np.int64]


def encode(present: npt.NDArray[np.bool_], batches: Grid, lags: Grid | None) -> list[bytes]:
    """Each row's blob: ``present`` (n x 48) says which half hours have a reading,
    ``batches`` and ``lags`` (n x 48, read where present) their batch and lag; ``lags``
    None where no row has any known. Every row must have a reading."""
    mask, batch_steps, firsts = steps_between(present, batches)
    newest = newest_batches(present, batches)
    codes = _codes(batch_steps)
    if lags is None:
        lag_steps, lag_firsts = np.zeros_like(batch_steps), np.zeros(len(present), np.int64)
        lag_codes = np.zeros(len(present), np.int64)
    else:
        _, lag_steps, lag_firsts = steps_between(present, lags)
        lag_codes = _codes(lag_steps)
    counts = mask.sum(axis=1)
    out: list[bytes] = [b""] * len(present)
    groups = np.stack([codes, lag_codes, counts], axis=1)
    for code, lag_code, count in np.unique(groups, axis=0).tolist():
        rows = np.flatnonzero((groups == (code, lag_code, count)).all(axis=1))
        kept = mask[rows]
        body = _packed(batch_steps[rows][kept].reshape(len(rows), count), code)
        if lag_code:
            lag_body = _packed(lag_steps[rows][kept].reshape(len(rows), count), lag_code)
            body = np.concatenate([body, lag_body], axis=1)
        for i, row in enumerate(rows.tolist()):
            head = bytes((code | lag_code << 4,)) + _varint(int(newest[row] - firsts[row]))
            if lag_code:
                head += _varint(_zigzag(int(lag_firsts[row])))
            out[row] = head + body[i].tobytes()
    return out


def newest_batches(present: npt.NDArray[np.bool_], batches: Grid) -> Grid:
    """Each row's newest batch: the row's ``batch`` column, which its blob counts from."""
    newest: Grid = np.where(present, batches, np.iinfo(np.int64).min).max(axis=1)
    return newest


def decode(blob: bytes, count: int, newest: int) -> tuple[list[int], list[int] | None]:
    """The batches and the lags (None: not known) of a row's ``count`` readings; ``newest``
    is the row's newest batch."""
    code, lag_code = blob[0] & 0xF, blob[0] >> 4
    offset, at = _read_varint(blob, 1)
    first = newest - offset
    lag_first = 0
    if lag_code:
        zigzag, at = _read_varint(blob, at)
        lag_first = (zigzag >> 1) ^ -(zigzag & 1)
    steps, at = _unpacked(blob, at, count - 1, code)
    batches = np.concatenate([[first], first + np.cumsum(steps)]).tolist()
    if not lag_code:
        return batches, None
    lag_steps, _ = _unpacked(blob, at, count - 1, lag_code)
    return batches, np.concatenate([[lag_first], lag_first + np.cumsum(lag_steps)]).tolist()


def _codes(steps: Grid) -> npt.NDArray[np.int64]:
    """The narrowest code holding each row's steps as signed numbers (0 is a step too)."""
    low, high = steps.min(axis=1, initial=0), steps.max(axis=1, initial=0)
    codes = np.full(len(steps), 5, np.int64)
    for code, limit in reversed(_LIMITS[:-1]):
        codes[(low >= -limit) & (high < limit)] = code
    return codes


def _packed(steps: Grid, code: int) -> npt.NDArray[np.uint8]:
    """Rows of steps (k x m) as bytes (k x m bytes), half bytes two to a byte."""
    if code != HALF:
        return steps.astype(f"<i{_BYTES[code]}").view(np.uint8).reshape(len(steps), -1)
    halves = (steps & 0xF).astype(np.uint8)
    if halves.shape[1] % 2:
        halves = np.concatenate([halves, np.zeros((len(halves), 1), np.uint8)], axis=1)
    return (halves[:, 0::2] | halves[:, 1::2] << 4).astype(np.uint8)


def _unpacked(blob: bytes, at: int, count: int, code: int) -> tuple[npt.NDArray[np.int64], int]:
    """``count`` steps of ``code`` at ``at`` in ``blob``; where the bytes after them start."""
    if code != HALF:
        size = _BYTES[code]
        return np.frombuffer(blob, f"<i{size}", count, at).astype(np.int64), at + count * size
    data = np.frombuffer(blob, np.uint8, (count + 1) // 2, at)
    halves = np.stack([data & 0xF, data >> 4], axis=1).ravel()[:count].astype(np.int64)
    return np.where(halves > 7, halves - 16, halves), at + (count + 1) // 2


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _varint(value: int) -> bytes:
    """``value`` (0 or more) in LEB128: 7 bits a byte, the high bit set on all but the last."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(blob: bytes, at: int) -> tuple[int, int]:
    """The LEB128 number at ``at``; where the bytes after it start."""
    value = shift = 0
    while True:
        byte = blob[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at
