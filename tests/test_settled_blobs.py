"""What a settled day keeps of each reading beyond its registers (its batch, its send
lag): read back exactly whatever the values, in few bytes for a live day."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kenshin.adapters.settled_blobs import LAG_MAX, LAG_MIN, decode, encode, newest_batches

ROWS = st.integers(1, 8)


@st.composite
def days(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows of 48 half hours, each with one reading or more, batches anywhere (steps
    of any size, down too) and lags known for every row or for none."""
    rows = draw(ROWS)
    present = draw(hnp.arrays(np.bool_, (rows, 48)))
    present[np.arange(rows), draw(st.integers(0, 47))] = True
    batches = draw(hnp.arrays(np.int64, (rows, 48), elements=st.integers(1, 2**62)))
    spread = draw(st.sampled_from([None, 8, 300]))  # batches close together, as live ones
    if spread:
        batches = 1_000 + np.cumsum(batches % spread, axis=1)
    lags = None
    if draw(st.booleans()):
        lags = draw(hnp.arrays(np.int64, (rows, 48), elements=st.integers(LAG_MIN, LAG_MAX)))
        if draw(st.booleans()):  # sent a few seconds apart, each half hour
            lags = 600 + lags % 9 - 4
    return present, batches, lags


@given(days())
def test_batches_and_lags_come_back_exactly(
    day: tuple[np.ndarray, np.ndarray, np.ndarray | None],
) -> None:
    present, batches, lags = day
    newest = newest_batches(present, batches)
    for row, blob in enumerate(encode(present, batches, lags)):
        kept = present[row]
        back_batches, back_lags = decode(blob, int(kept.sum()), int(newest[row]))
        assert back_batches == batches[row][kept].tolist()
        assert back_lags == (None if lags is None else lags[row][kept].tolist())


def test_a_live_day_takes_a_byte_or_less_a_step_and_a_day_stored_at_once_26() -> None:
    """Readings of each half hour in a batch up to 127 after the one before (or up to 7),
    sent a few seconds apart from one half hour to the next; or the whole day in one
    batch, sent at unknown times."""
    present = np.ones((3, 48), np.bool_)
    slot = np.arange(48, dtype=np.int64)
    batches = 5_000_000 + np.stack([90 * slot, 7 * slot, 7 * slot])
    lags = 900 + np.stack([(slot * 7) % 23, (slot * 3) % 5, (slot * 3) % 5])
    lags[2, 20] = -40_000  # a reading resent the next day: sent after the later ones
    blobs = encode(present, batches, lags)
    head = 1 + 2 + 2  # widths, newest minus first (2 bytes), first lag (2 bytes)
    assert [len(b) for b in blobs] == [head + 47 + 47, head + 24 + 24, head + 24 + 47 * 4]
    (at_once,) = encode(present[:1], np.full((1, 48), 77, np.int64), None)
    assert len(at_once) == 1 + 1 + 24
    assert decode(at_once, 48, 77) == ([77] * 48, None)
