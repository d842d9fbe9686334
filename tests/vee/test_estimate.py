"""Gaps are filled by the stated method, to the mWh, and never where they must not be."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from kenshin.domain.vee import Method, VeeSettings, validate_day

from .conftest import KWH, RES, X, flags, flat_like, grid, like, vee


def test_a_short_gap_splits_the_register_difference_evenly() -> None:
    # 10 steps (10,000 mWh) over 3 slots: 3,334 + 3,333 + 3,333.
    day = vee(grid([0, 5, X, X, 15, 20]))
    assert flags(day) == "AEEEA"
    assert day.values[0].tolist() == [5 * RES, 3_334, 3_333, 3_333, 5 * RES]
    assert day.methods[0].tolist() == [0, Method.LINEAR, Method.LINEAR, Method.LINEAR, 0]
    assert day.explain(0, 1) == ["missing", "estimated by linear interpolation"]


def test_interpolation_spans_a_rollover() -> None:
    day = vee(grid([9_990, X, 10], digits=4))
    assert day.values[0].tolist() == [10 * RES, 10 * RES]


def test_a_long_gap_follows_the_like_days_scaled_to_the_registers() -> None:
    # Six slots, 12 kWh between the registers; the like days' shape is 1:1:2:2:3:3.
    weeks = [[KWH, KWH, 2 * KWH, 2 * KWH, 3 * KWH, 3 * KWH]] * 3
    day = vee(grid([0, X, X, X, X, X, 12_000]), like([weeks]))
    assert flags(day) == "EEEEEE"
    assert day.values[0].tolist() == [KWH, KWH, 2 * KWH, 2 * KWH, 3 * KWH, 3 * KWH]
    assert set(day.methods[0].tolist()) == {Method.LIKE_DAY_SCALED}


def test_a_scaled_split_adds_up_exactly_when_it_does_not_divide() -> None:
    weeks = [[1, 1, 1, 1, 1, 2]] * 2 + [[-1] * 6]
    day = vee(grid([0, X, X, X, X, X, 1]), like([weeks]))  # 1,000 mWh in weights 1:1:1:1:1:2
    assert day.values[0].tolist() == [142, 143, 143, 143, 143, 286]
    assert int(day.values[0].sum()) == RES


def test_a_gap_at_the_day_edge_takes_the_like_day_mean() -> None:
    weeks = [[KWH, 10, 11], [KWH, 11, 11], [KWH, 11, 12]]  # means 1 kWh, 10.67, 11.33
    day = vee(grid([0, 1_000, X, X]), like([weeks]))
    assert flags(day) == "AEE"
    assert day.values[0].tolist() == [1_000 * RES, 11, 11]
    assert day.methods[0, 1:].tolist() == [Method.LIKE_DAY, Method.LIKE_DAY]


def test_a_gap_without_history_for_every_slot_stays_empty() -> None:
    weeks = [[5, 5, -1, 5, 5, 5]] * 3
    day = vee(grid([0, X, X, X, X, X, 30]), like([weeks]))
    assert flags(day) == "NNNNNN"
    assert not day.values.any()


def test_too_few_like_weeks_leave_a_gap_empty() -> None:
    weeks = [[5] * 6, [-1] * 6, [-1] * 6]
    g = grid([0, X, X, X, X, X, 30])
    assert flags(vee(g, like([weeks]))) == "EEEEEE"
    assert flags(vee(g, like([weeks]), like_day_min_weeks=2)) == "NNNNNN"


def test_nothing_is_estimated_where_the_meter_was_not_in_service() -> None:
    # The old meter's last reading is at boundary 2; it was exchanged there.
    installed = np.array([[True, True, False, False]])
    day = vee(grid([0, 100, 200, X, X], installed=installed), flat_like(1, 4, 3, 100 * RES))
    assert flags(day) == "AANN"
    assert not day.rules[0, 2:].any()  # out of service is not missing
    # A gap that runs into the exchange is not filled from the far side either.
    installed = np.array([[True, True, True, False]])
    day = vee(grid([0, 100, X, X, X], installed=installed), flat_like(1, 4, 3, 100 * RES))
    assert flags(day) == "ANNN"


def test_a_reset_inside_a_gap_is_not_estimated() -> None:
    day = vee(grid([5_000, X, X, 10]), flat_like(1, 3, 3, 100 * RES))
    assert flags(day) == "NNN"
    assert (day.rules[0] & 2).all()  # NEGATIVE: the register dropped over the gap


def test_slots_not_yet_due_are_neither_missing_nor_estimated() -> None:
    g = grid([0, 100, X, X, X])
    day = vee(g, flat_like(1, 4, 3, 100 * RES))
    assert flags(day) == "AEEE"
    due = validate_day(g, flat_like(1, 4, 3, 100 * RES), VeeSettings(), due=2)
    assert flags(due) == "AENN"
    assert not due.rules[0, 2:].any()


def test_a_customer_can_take_no_estimates_or_no_q() -> None:
    conflicts = np.zeros((1, 5), np.bool_)
    conflicts[0, 4] = True
    day = vee(grid([0, 10, X, 30, 40], conflicts=conflicts))
    assert flags(day) == "AEEQ"
    every = day.for_customer(VeeSettings())
    assert every.flag_texts() == ["AEEQ"]
    plain = day.for_customer(VeeSettings(write_estimates=False, write_questionable=False))
    assert plain.flag_texts() == ["ANNA"]
    assert plain.values[0].tolist() == [10 * RES, 0, 0, 10 * RES]
    assert plain.meter_days()[0].values == (10 * RES, None, None, 10 * RES)


def test_a_scaled_split_of_a_very_large_meter_stays_exact() -> None:
    # 10 GWh over six slots with weights of 10^11: past int64 for the products.
    weeks = [[10**11, 2 * 10**11, 3 * 10**11, 10**11, 10**11, 10**11 + 1]] * 3
    day = vee(grid([0, X, X, X, X, X, 10**6], resolution=10**7), like([weeks]))
    total = 10**13
    weights = [6 * w for w in weeks[0]]
    cuts = [total * sum(weights[:k]) // sum(weights) for k in range(7)]
    assert day.values[0].tolist() == [b - a for a, b in pairwise(cuts)]
    assert int(day.values[0].sum()) == total
