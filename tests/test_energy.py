"""Exact energy arithmetic: rollover, plausibility guard, kWh printing."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kenshin.domain.energy import (
    ECHONET_UNIT_MWH,
    UNIT_MWH,
    KwhFormatter,
    demand_limit_mwh,
    format_kwh,
    register_delta,
)


def test_every_unit_converts_to_whole_mwh() -> None:
    assert UNIT_MWH["0.0001kWh"] == 100
    assert UNIT_MWH["10000kWh"] == 10_000_000_000
    assert sorted(UNIT_MWH.values()) == sorted(ECHONET_UNIT_MWH.values())


def test_forward_delta_is_raw_difference_times_resolution() -> None:
    assert register_delta(123_456, 123_459, 10**6, 100_000, 1800) == 300_000


def test_rollover_within_max_demand_is_accepted() -> None:
    # 999_998 -> 3 on a 6-digit register of 0.1 kWh: 5 raw steps = 0.5 kWh.
    assert register_delta(999_998, 3, 10**6, 100_000, 1800) == 500_000


def test_register_going_down_implausibly_is_no_delta() -> None:
    # A reset from 500000 to 10 would be 50,001 kWh in half an hour.
    assert register_delta(500_000, 10, 10**6, 100_000, 1800) is None


def test_plausibility_guard_scales_with_max_demand() -> None:
    # Wrap of 600 raw steps of 0.1 kWh = 60 kWh in 30 minutes = 120 kW average.
    assert register_delta(999_700, 300, 10**6, 100_000, 1800, max_demand_w=100_000) is None
    assert register_delta(999_700, 300, 10**6, 100_000, 1800, max_demand_w=150_000) == 60_000_000


@pytest.mark.parametrize(
    ("mwh", "decimals", "text"),
    [
        (0, 3, "0.000"),
        (300_000, 3, "0.300"),
        (300_000, 1, "0.3"),
        (300_000, 0, "0.3"),
        (1_000_000, 0, "1"),
        (100, 3, "0.0001"),
        (123_456_789, 3, "123.456789"),
        (-1_500_000, 3, "-1.500"),
        (10_000_000_000_000, 2, "10000000.00"),
    ],
)
def test_kwh_prints_exactly(mwh: int, decimals: int, text: str) -> None:
    assert format_kwh(mwh, decimals) == text
    assert KwhFormatter(decimals)(mwh) == text


@given(st.integers(-(10**15), 10**15), st.integers(0, 6))
def test_printed_kwh_is_the_exact_value(mwh: int, decimals: int) -> None:
    text = KwhFormatter(decimals)(mwh)
    assert Decimal(text) * 1_000_000 == mwh
    assert text == format_kwh(mwh, decimals)
    if decimals:
        assert len(text.split(".")[1]) >= decimals


@given(st.integers(0, 10**16), st.integers(0, 10**6))
def test_a_demand_limit_is_watt_seconds_over_3_6_rounded_down(watts: int, seconds: int) -> None:
    assert demand_limit_mwh(watts, seconds) == watts * seconds * 1000 // 3600


def test_a_row_of_demand_limits_in_int64_is_exact_up_to_the_largest_limit() -> None:
    # 10**13 W (a CT meter of coefficient 999,999 behind a 10 MW default): 5 * 10**15 mWh
    # a half hour, where W x s x 1000 (1.8 * 10**19) would not fit in int64.
    watts = np.array([1, 100_000, 10**13, (2**63 - 1) // 500], np.int64)
    assert demand_limit_mwh(watts, 1800).tolist() == [w * 500 for w in watts.tolist()]
    assert demand_limit_mwh(watts[:3], 1).tolist() == [0, 27_777, 2_777_777_777_777]
