"""Future-dated readings, judged as readings arrive."""

from __future__ import annotations

import numpy as np

from kenshin.domain.model import Reading
from kenshin.domain.vee import VeeSettings, future_dated, split_future

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
