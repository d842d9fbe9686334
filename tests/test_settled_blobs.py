"""What a settled day keeps of each reading beyond its registers (its batch, its send
lag): read back exactly whatever the values, in few bytes for a live day."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kenshin.adapters.settled_blobs import LAG_MAX, LAG_MIN, decode, encode

ROWS = st.integers(1, 8)


@st.composite
def days(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows of 48 half hours, each with one reading or more, batches anywhere (steps
    of any size, down too) and lags known for every row or for none."""
    rows = draw(ROWS)
    present = draw(hnp.arrays(np.bool_, (rows, 48)))
    present[np.arange(rows), draw(st.integers(0, 47))] = True
    batches = draw(hnp.arrays(np.int64, (rows, 48), elements=st.integers(1, 2**62)))
    nearby = draw(st.booleans())  # batches close together, as a live day's are
    if nearby:
        batches = 1_000 + np.cumsum(batches % 300, axis=1)
    lags = None
    if draw(st.booleans()):
        lags = draw(hnp.arrays(np.int64, (rows, 48), elements=st.integers(LAG_MIN, LAG_MAX)))
    return present, batches, lags


@given(days())
def test_batches_and_lags_come_back_exactly(
    day: tuple[np.ndarray, np.ndarray, np.ndarray | None],
) -> None:
    present, batches, lags = day
    for row, blob in enumerate(encode(present, batches, lags)):
        kept = present[row]
        back_batches, back_lags = decode(blob, int(kept.sum()))
        assert back_batches == batches[row][kept].tolist()
        assert back_lags == (None if lags is None else lags[row][kept].tolist())


def test_a_live_day_takes_108_bytes_and_a_day_stored_at_once_57() -> None:
    """Readings of each half hour in a batch up to 127 after the one before, sent a few
    seconds apart from one half hour to the next; or the whole day in one batch, sent
    at unknown times."""
    present = np.ones((1, 48), np.bool_)
    batches = 5_000_000 + 90 * np.arange(48, dtype=np.int64)[None, :]
    lags = 900 + np.array([[(i * 7) % 11 for i in range(48)]], np.int64)
    (live,) = encode(present, batches, lags)
    assert len(live) == 2 + 8 + 4 + 47 + 47
    (at_once,) = encode(present, np.full((1, 48), 77, np.int64), None)
    assert len(at_once) == 2 + 8 + 47
    assert decode(at_once, 48) == ([77] * 48, None)
