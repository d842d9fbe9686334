"""Future-dated readings and unit clocks, judged as readings arrive."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.model import Reading
from kenshin.domain.vee import ClockTrack, VeeSettings, clock_offsets, future_dated, split_future
from kenshin.domain.vee.ingest import CLOCK_WINDOW

DEFAULTS = VeeSettings()


def test_a_reading_more_than_five_minutes_ahead_is_future_dated() -> None:
    received = 1_800_000_000
    t = np.array([received - 3600, received + 300, received + 301], np.int64)
    assert future_dated(t, received, DEFAULTS).tolist() == [False, False, True]
    strict = VeeSettings(future_tolerance_s=0)
    assert future_dated(t, np.full(3, received), strict).tolist() == [False, True, True]


def test_future_readings_are_split_off_for_quarantine() -> None:
    received = 1_800_000_000
    readings = [Reading("M-1", received + dt, 1, None) for dt in (-1800, 300, 301, 86_400)]
    kept, quarantined = split_future(readings, received, DEFAULTS)
    assert [r.t - received for r in kept] == [-1800, 300]
    assert [r.t - received for r in quarantined] == [301, 86_400]
    assert split_future(readings[:2], received, DEFAULTS) == (readings[:2], [])


def test_a_clock_within_the_limit_is_not_drifting() -> None:
    track = ClockTrack().add([1000 * i for i in range(10)], [1000 * i + 3 for i in range(10)])
    estimate = track.estimate(DEFAULTS)
    assert (estimate.offset_s, estimate.samples, estimate.drifting) == (3, 10, False)


def test_a_clock_ten_minutes_ahead_drifts_despite_a_few_held_messages() -> None:
    sent = [1000 * i for i in range(9)]
    received = [s - 600 for s in sent[:6]] + [s + 7200 for s in sent[6:]]  # 3 held 2 h
    estimate = ClockTrack().add(sent, received).estimate(DEFAULTS)
    assert (estimate.offset_s, estimate.drifting) == (-600, True)


def test_too_few_messages_say_nothing_of_a_clock() -> None:
    estimate = ClockTrack().add([0, 10], [900, 910]).estimate(DEFAULTS)
    assert (estimate.offset_s, estimate.drifting) == (900, False)
    assert not ClockTrack().estimate(DEFAULTS).drifting


def test_a_track_keeps_only_the_recent_window() -> None:
    track = ClockTrack().add(list(range(CLOCK_WINDOW)), [900] * CLOCK_WINDOW)
    track = track.add([0] * 10, [0] * 10)
    assert len(track.offsets) == CLOCK_WINDOW
    assert track.offsets[-10:] == (0,) * 10


def test_a_track_refuses_unpaired_times() -> None:
    with pytest.raises(ValueError, match="one time each"):
        ClockTrack().add([1, 2], [3])


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-2000, 2000)), max_size=60))
def test_the_fleet_estimate_equals_each_units_track(pairs: list[tuple[int, int]]) -> None:
    units = np.array([u for u, _ in pairs], np.int64)
    offsets = np.array([o for _, o in pairs], np.int64)
    sent = np.arange(len(pairs), dtype=np.int64) * 1800
    median, samples, drifting = clock_offsets(units, sent, sent + offsets, 5, DEFAULTS)
    for unit in range(5):
        mine = [o for u, o in pairs if u == unit]
        expected = ClockTrack().add([0] * len(mine), mine).estimate(DEFAULTS)
        assert (int(median[unit]), int(samples[unit]), bool(drifting[unit])) == (
            expected.offset_s,
            expected.samples,
            expected.drifting,
        )
