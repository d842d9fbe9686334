"""The fleet-wide day table computes exactly what the one-meter reference computes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.daytable import DayTable, concat, day_table
from kenshin.domain.intervals import NO_REGISTER, MeterDay, day_of_registers
from kenshin.domain.model import Direction, Meter, MeterSpec

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
    demand = draw(st.one_of(st.none(), st.integers(0, 10**7)))
    register = st.one_of(st.just(NO_REGISTER), st.integers(0, spec.modulus - 1))
    fwd = draw(st.lists(register, min_size=49, max_size=49))
    rev = draw(st.one_of(st.just([NO_REGISTER] * 49), st.lists(register, min_size=49, max_size=49)))
    return (
        Meter(draw(st.from_regex(r"M-[0-9]{1,3}", fullmatch=True)), "U-1", spec, demand),
        fwd,
        rev,
    )


@settings(max_examples=100)
@given(st.lists(meter_rows(), max_size=6, unique_by=lambda r: r[0].id), st.integers(1, 10**7))
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
            meter.id,
            f,
            r,
            meter.spec,
            default_demand if meter.max_demand_w is None else meter.max_demand_w,
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
