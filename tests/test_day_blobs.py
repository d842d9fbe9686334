"""Packed days in few bytes: a first register and its steps, each in the fewest bytes
that hold the row's largest, read back exactly whatever the registers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kenshin.adapters.day_blobs import RAW_BYTES, decode, encode
from kenshin.domain.intervals import NO_REGISTER

ANY_REGISTER = st.integers(0, NO_REGISTER - 1)
# Registers anywhere, with half hours missing here and there (and rows without any).
GRIDS = hnp.arrays(
    np.uint32,
    st.tuples(st.integers(0, 12), st.just(48)),
    elements=st.one_of(ANY_REGISTER, st.just(NO_REGISTER)),
)


@given(GRIDS)
def test_any_registers_come_back_exactly(grid: np.ndarray) -> None:
    back = decode(encode(grid))
    assert back.dtype == np.uint32
    assert np.array_equal(back, grid)


@given(
    st.integers(0, NO_REGISTER - 1),
    st.lists(st.integers(0, 7), min_size=47, max_size=47),
    st.sets(st.integers(0, 47), max_size=47),
)
def test_a_day_of_a_household_meter_takes_58_bytes_or_fewer_with_gaps(
    first: int, steps: list[int], missing: set[int]
) -> None:
    """0.1 kWh registers rising up to 0.7 kWh a half hour, across a rollover too."""
    registers = (first + np.cumsum([0, *steps])) % 2**32
    registers[registers == NO_REGISTER] = 0  # a rollover of the full 32 bits
    row = registers.astype(np.uint32)
    row[sorted(missing)] = NO_REGISTER
    (blob,) = encode(row[None, :])
    assert len(blob) == 58 - len(missing)  # a step to each register after the first
    assert np.array_equal(decode([blob])[0], row)


def test_steps_are_as_wide_as_the_largest_of_their_row() -> None:
    base = np.arange(48, dtype=np.uint32) * 300  # 30 kWh a half hour in 0.1 kWh
    exchanged = base.copy()
    exchanged[30:] = np.arange(18, dtype=np.uint32)  # a new meter from 0
    blobs = encode(np.stack([base // 100, base, exchanged]))
    assert [len(b) for b in blobs] == [58, 105, 199]
    assert [b[0] for b in blobs] == [0x81, 0x82, 0x84]
    assert np.array_equal(decode(blobs), np.stack([base // 100, base, exchanged]))


def test_rows_packed_before_as_48_registers_are_read_as_they_are() -> None:
    row = np.arange(1_000, 1_048, dtype=np.uint32)
    row[5] = NO_REGISTER
    raw = row.astype("<u4").tobytes()
    assert len(raw) == RAW_BYTES
    grid = decode([raw, None, encode(row[None, :])[0]])
    assert np.array_equal(grid[0], row)
    assert (grid[1] == NO_REGISTER).all()  # no row: no registers
    assert np.array_equal(grid[2], row)


def every_half_hour(row: np.ndarray) -> bytes:
    """A row as packed before: a step at every half hour (2-byte steps), a half hour
    without a register counting as the one before it."""
    present = row != NO_REGISTER
    filled = row.copy()
    for i in range(1, 48):
        if not present[i]:
            filled[i] = filled[i - 1]
    first = int(filled[present][0])
    filled[: np.argmax(present)] = first
    head = bytes([2]) + np.packbits(present, bitorder="little").tobytes()
    return head + first.to_bytes(4, "little") + np.diff(filled).astype("<u2").tobytes()


def test_rows_packed_before_with_a_step_at_every_half_hour_are_read_as_they_are() -> None:
    row = np.arange(5_000, 5_000 + 48 * 300, 300, dtype=np.uint32)
    row[[0, 7, 8, 47]] = NO_REGISTER
    blob = every_half_hour(row)
    assert len(blob) == 105
    assert np.array_equal(decode([blob, encode(row[None, :])[0]]), np.stack([row, row]))


def test_bytes_of_another_layout_are_refused() -> None:
    (blob,) = encode(np.arange(48, dtype=np.uint32)[None, :])
    with pytest.raises(ValueError, match="packed registers of 57 bytes"):
        decode([blob[:-1]])
    with pytest.raises(ValueError, match="packed registers of 58 bytes"):
        decode([bytes([2]) + blob[1:]])  # says 2-byte steps, has 1-byte ones
