"""The fleet-wide day table computes exactly what the one-meter reference computes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kenshin.domain.daytable import DayTable, concat, day_table
from kenshin.domain.energy import (
    DEFAULT_MAX_DEMAND_W,
    MAX_COEFFICIENT,
    MAX_DIGITS,
    MIN_DIGITS,
    UNIT_MWH,
)
from kenshin.domain.intervals import NO_REGISTER, MeterDay, day_of_registers
from kenshin.domain.model import Direction, Meter, MeterSpec
from kenshin.domain.slots import SLOT_SECONDS
from kenshin.domain.vee.grid import grid_of

SPECS = st.builds(
    MeterSpec,
    unit_mwh=st.sampled_from([100, 1_000, 100_000, 1_000_000]),
    coefficient=st.sampled_from([1, 40, 999_999]),
    digits=st.integers(2, 8),
)


@st.composite
def meter_rows(draw: st.DrawFn) -> tuple[Meter, list[int], list[int]]:
    """A meter and its forward and reverse registers at 49 boundaries, some missing."""
    spec = draw(SPECS)
    # Up to what ``kenshin meters set`` takes (10,000,000 kW) and the largest default
    # (``meters.max_demand_kw``, 1,000,000 kW) allow, so that a CT meter's limit nears int64.
    demand = draw(st.one_of(st.none(), st.integers(0, 10**10)))
    register = st.one_of(st.just(NO_REGISTER), st.integers(0, spec.modulus - 1))
    fwd = draw(st.lists(register, min_size=49, max_size=49))
    rev = draw(st.one_of(st.just([NO_REGISTER] * 49), st.lists(register, min_size=49, max_size=49)))
    return (
        Meter(draw(st.from_regex(r"M-[0-9]{1,3}", fullmatch=True)), "U-1", spec, demand),
        fwd,
        rev,
    )


# A CT meter of a large coefficient whose default limit (the configured one times its
# coefficient) is near 10**13 W: its limit in mWh a slot must not overflow int64.
_BIG_CT = Meter("M-0", "U-1", MeterSpec(1_000_000, 999_999, 4))


@settings(max_examples=100)
@given(st.lists(meter_rows(), max_size=6, unique_by=lambda r: r[0].id), st.integers(1, 10**9))
@example([(_BIG_CT, [6_230, 0] + [NO_REGISTER] * 47, [NO_REGISTER] * 49)], 7_540_000)
def test_the_day_table_equals_the_reference_meter_by_meter(
    rows: list[tuple[Meter, list[int], list[int]]], default_demand: int
) -> None:
    meters = [meter for meter, _, _ in rows]
    fwd = np.array([f for _, f, _ in rows], np.uint32).reshape(len(rows), 49)
    rev = np.array([r for _, _, r in rows], np.uint32).reshape(len(rows), 49)
    expected = [
        day
        for meter, f, r in rows
        for day in day_of_registers(
            meter.id, f, r, meter.spec, meter.demand_limit_w(default_demand)
        )
    ]
    table = day_table(meters, fwd, rev, default_demand)
    assert table.meter_days() == expected
    assert table.totals() == [day.total for day in expected]
    assert table.flag_texts() == [day.flags for day in expected]


def test_a_wrap_is_a_rollover_only_when_the_demand_allows_it() -> None:
    spec = MeterSpec(100, 1, 4)  # 0.1 Wh steps, wraps at 10,000
    meter = Meter("M-1", "U-1", spec, max_demand_w=1_000)  # at most 0.5 kWh a half hour
    fwd = np.array([[9_990, 10, 5, NO_REGISTER, 7]], np.uint32)
    table = day_table([meter], fwd, np.full_like(fwd, NO_REGISTER))
    # 9,990 -> 10 wraps by 20 steps (2 Wh); 10 -> 5 would need 9,995 steps: a reset.
    assert table.meter_days() == [MeterDay("M-1", Direction.FWD, (2_000, None, None, None))]


def test_a_ct_meter_of_a_large_coefficient_rolls_over_within_its_limit() -> None:
    # 1 kWh steps x 999,999 (about 1 GWh a step), 4 digits; a direct meter may draw 10 MW, so
    # this one about 10**13 W: 5 * 10**15 mWh a half hour. Its register wraps by 20 steps.
    default_w = 10_000_000
    assert _BIG_CT.demand_limit_w(default_w) == 9_999_990_000_000
    fwd = np.array([[9_990, 10, 15]], np.uint32)
    rev = np.full_like(fwd, NO_REGISTER)
    step = _BIG_CT.spec.resolution_mwh
    expected = [MeterDay("M-0", Direction.FWD, (20 * step, 5 * step))]
    assert (
        day_of_registers("M-0", fwd[0].tolist(), rev[0].tolist(), _BIG_CT.spec, 9_999_990_000_000)
        == expected
    )
    # The day table and VEE's grid (the same slot arithmetic) keep the wrap: every mWh.
    assert day_table([_BIG_CT], fwd, rev, default_w).meter_days() == expected
    values, flags = grid_of([_BIG_CT], fwd, rev, default_w).slots()
    assert values.tolist() == [[20 * step, 5 * step]]
    assert flags.tobytes() == b"AA"


def test_rows_come_forward_then_reverse_and_reorder_by_meter() -> None:
    days = [
        MeterDay("M-2", Direction.REV, (1, None)),
        MeterDay("M-1", Direction.FWD, (None, 2)),
        MeterDay("M-2", Direction.FWD, (3, 4)),
    ]
    table = DayTable.of(days, 2).in_order()
    assert [(d.meter, d.direction) for d in table.meter_days()] == [
        ("M-1", Direction.FWD),
        ("M-2", Direction.FWD),
        ("M-2", Direction.REV),
    ]
    assert table.flag_texts() == ["NA", "AA", "AN"]
    assert concat([table, table], 2).totals() == [2, 7, 1, 2, 7, 1]
    assert len(concat([], 48)) == 0
    with pytest.raises(ValueError, match="'M-2' has 2 slots, not 3"):
        DayTable.of(days, 3)


@st.composite
def wrapping_days(draw: st.DrawFn) -> tuple[Meter, list[int], list[int]]:
    """A meter of any unit, coefficient and digits with no maximum of its own, the raw
    steps of 48 slots each within what it can draw, and its registers wrapping at the
    modulus from a start near the top (so that it wraps at least once on most days)."""
    spec = draw(
        st.builds(
            MeterSpec,
            unit_mwh=st.sampled_from(sorted(UNIT_MWH.values())),
            coefficient=st.integers(1, MAX_COEFFICIENT),
            digits=st.integers(MIN_DIGITS, MAX_DIGITS),
        )
    )
    meter = Meter("M-1", "U-1", spec)
    # A CT meter of coefficient k draws k times what a direct meter (the default) can.
    limit_mwh = DEFAULT_MAX_DEMAND_W * spec.coefficient * SLOT_SECONDS // 3_600 * 1_000
    # A register moves by less than one turn in a slot, or no one could tell the turns.
    most = min(limit_mwh // spec.resolution_mwh, spec.modulus - 1)
    steps = draw(st.lists(st.integers(0, most), min_size=48, max_size=48))
    start = draw(st.integers(max(0, spec.modulus - 2 * most - 1), spec.modulus - 1))
    registers = [start]
    for step in steps:
        registers.append((registers[-1] + step) % spec.modulus)
    return meter, steps, registers


@settings(max_examples=100)
@given(wrapping_days())
def test_energy_is_conserved_across_wraps_for_any_meter_within_its_limit(
    day: tuple[Meter, list[int], list[int]],
) -> None:
    meter, steps, registers = day
    fwd = np.array([registers], np.uint32)
    table = day_table([meter], fwd, np.full_like(fwd, NO_REGISTER))
    # Every slot is the energy the meter drew, wrap or not: the day adds up to the mWh.
    assert table.flag_texts() == ["A" * 48]
    assert table.values[0].tolist() == [s * meter.spec.resolution_mwh for s in steps]
    assert table.totals() == [sum(steps) * meter.spec.resolution_mwh]
