"""Units' reporting offsets: stable per id, even over the half hour, inside the window."""

from __future__ import annotations

from collections import Counter

import pytest

from kenshin.domain.spread import report_offset_s


def test_offsets_of_10000_ids_fill_every_minute_evenly() -> None:
    minutes = Counter(report_offset_s(f"U-{i:06d}") // 60 for i in range(10_000))
    mean = 10_000 / 30
    assert sorted(minutes) == list(range(30))
    assert all(0.8 * mean <= n <= 1.2 * mean for n in minutes.values()), minutes


def test_an_offset_is_the_same_every_time_and_differs_between_units() -> None:
    assert report_offset_s("U-000123") == report_offset_s("U-000123")
    assert len({report_offset_s(f"U-{i}") for i in range(50)}) > 40


def test_a_narrower_window_keeps_offsets_inside_it() -> None:
    offsets = {report_offset_s(f"U-{i}", 300) for i in range(2000)}
    assert offsets <= set(range(300))
    assert len(offsets) > 250


def test_no_window_puts_every_unit_at_the_boundary() -> None:
    assert {report_offset_s(f"U-{i}", 0) for i in range(100)} == {0}


@pytest.mark.parametrize("window", [-1, 1801])
def test_a_window_beyond_the_half_hour_is_refused(window: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.1800"):
        report_offset_s("U-1", window)
