"""Each rule fires on exactly the slots it should, and nowhere on a plain day."""

from __future__ import annotations

import numpy as np
import pytest

from kenshin.domain.model import Direction
from kenshin.domain.vee import ALL_RULES, Rule
from kenshin.domain.vee.rules import sum_mismatch
from kenshin.domain.vee.spans import spans_of

from .conftest import KWH, RES, X, flags, flat_like, grid, like, running, vee

STEADY = running(5_000, [100] * 8)  # 100 Wh a slot, 8 slots


def fired(day_bits: np.ndarray, rule: Rule) -> list[int]:
    """The slots of row 0 with ``rule``'s bit."""
    return np.flatnonzero(day_bits[0] & rule).tolist()


def test_a_plain_day_is_all_actual_with_no_rule_fired() -> None:
    day = vee(grid(STEADY), flat_like(1, 8, 3, 100 * RES))
    assert flags(day) == "AAAAAAAA"
    assert day.values[0].tolist() == [100 * RES] * 8
    assert not day.rules.any()


def test_missing_marks_the_slots_of_a_missing_register() -> None:
    registers = STEADY.copy()
    registers[3] = X
    day = vee(grid(registers), interpolation_max_slots=0)
    assert flags(day) == "AANNAAAA"
    assert fired(day.rules, Rule.MISSING) == [2, 3]
    assert day.explain(0, 2) == ["missing"]


def test_a_register_that_drops_is_negative_and_never_estimated() -> None:
    day = vee(grid([1_000, 1_100, 1_200, 500, 600, 700]))
    assert flags(day) == "AANAA"
    assert fired(day.rules, Rule.NEGATIVE) == [2]
    assert day.explain(0, 2) == ["missing", "negative"]


def test_a_register_that_wraps_within_the_demand_is_a_rollover() -> None:
    day = vee(grid([9_990, 9_995, 5, 10], digits=4))
    assert flags(day) == "AAA"
    assert day.values[0].tolist() == [5 * RES, 10 * RES, 5 * RES]


def test_a_demand_above_the_meters_limit_is_judged_alike_with_or_without_a_wrap() -> None:
    # 1 kW meter: at most 500 Wh a half hour. 600 Wh without a wrap is kept but
    # questionable (spike, even with no history); with a wrap it cannot be a rollover.
    plain = vee(grid(running(5_000, [100, 600, 100]), demand_w=1_000))
    assert (flags(plain), fired(plain.rules, Rule.SPIKE)) == ("AQA", [1])
    wrapped = vee(grid(wrapping(9_400, [100, 600, 100]), digits=4, demand_w=1_000))
    assert (flags(wrapped), fired(wrapped.rules, Rule.NEGATIVE)) == ("ANA", [1])
    # Within the limit both are plain rollover-or-not energy.
    for start, digits in ((5_000, 8), (9_400, 4)):
        day = vee(grid(wrapping(start, [100, 500, 100], digits), digits=digits, demand_w=1_000))
        assert flags(day) == "AAA"


def wrapping(start: int, steps: list[int], digits: int = 4) -> list[int]:
    """Registers from ``start`` after each step, on a register of ``digits`` digits."""
    return [r % 10**digits for r in running(start, steps)]


def test_spike_fires_above_three_times_the_peak_plus_a_kwh() -> None:
    # Like-day peak 100 Wh: the limit is 3 x 100 Wh + 1 kWh = 1.3 kWh.
    steps = [100, 1_300, 100, 1_301, 100]
    day = vee(grid(running(0, steps)), flat_like(1, 5, 3, 100 * RES))
    assert fired(day.rules, Rule.SPIKE) == [3]
    assert flags(day) == "AAAQA"


def test_high_compares_with_the_same_slot_of_the_like_days() -> None:
    weeks = [[100 * RES, 100 * RES, 2 * KWH]] * 3  # the peak (2 kWh) is at slot 2
    day = vee(grid(running(0, [1_301, 1_300, 2_000])), like([weeks]))
    assert fired(day.rules, Rule.HIGH) == [0]
    assert fired(day.rules, Rule.SPIKE) == []


def test_low_marks_the_whole_day_far_below_every_like_day() -> None:
    history = flat_like(1, 8, 3, KWH)  # 8 kWh a day; 20 % is 1.6 kWh
    assert flags(vee(grid(running(0, [199] * 8)), history)) == "QQQQQQQQ"
    assert flags(vee(grid(running(0, [200] * 8)), history)) == "AAAAAAAA"


def test_low_is_silent_without_two_like_days() -> None:
    weeks = [[KWH] * 4, [-1] * 4, [-1] * 4]
    assert flags(vee(grid(running(0, [10] * 4)), like([weeks]))) == "AAAA"


def test_a_zero_run_fires_only_when_longer_than_the_limit() -> None:
    # One hour allowed: three zero slots in a row fire, two do not.
    registers = running(0, [100, 0, 0, 0, 100, 0, 0, 100])
    day = vee(grid(registers, registers, reverse=[False, True]), zero_run_hours=1)
    assert fired(day.rules, Rule.ZERO_RUN) == [1, 2, 3]
    assert flags(day, 1) == "AAAAAAAA"  # export rests at zero: not judged by default
    day = vee(grid(registers, reverse=[True]), zero_run_hours=1, judge_reverse=True)
    assert fired(day.rules, Rule.ZERO_RUN) == [1, 2, 3]


def test_stuck_fires_where_the_meter_always_consumed() -> None:
    registers = running(0, [100] + [0] * 6 + [100, 0, 0, 0, 0, 0, 100])
    history = flat_like(1, 14, 3, 100 * RES)
    day = vee(grid(registers), history)
    assert fired(day.rules, Rule.STUCK) == [1, 2, 3, 4, 5, 6]
    assert flags(day) == "AQQQQQQAAAAAAA"
    quiet = flat_like(1, 14, 3, 49 * RES)  # below 50 Wh on the like days: nothing to miss
    assert not vee(grid(registers), quiet).rules.any()


def test_the_sum_check_fires_where_slots_disagree_with_the_registers() -> None:
    registers = np.array([[0, X, X, 300]], np.int64)
    known = registers != X
    one = np.ones(1, np.int64)
    spans = spans_of(known, registers, one, one * 10**8, one * 100_000)
    present = np.ones((1, 3), np.bool_)
    good = np.array([[100, 100, 100]], np.int64)
    bad = np.array([[100, 100, 101]], np.int64)
    assert not sum_mismatch(good, present, spans).any()
    assert sum_mismatch(bad, present, spans).tolist() == [[True, True, True]]


def test_a_conflicting_reading_makes_its_slots_questionable() -> None:
    conflicts = np.zeros((1, 9), np.bool_)
    conflicts[0, 3] = True
    day = vee(grid(STEADY, conflicts=conflicts))
    assert fired(day.rules, Rule.CONFLICT) == [2, 3]
    assert flags(day) == "AAQQAAAA"


def test_a_quarantined_reading_explains_a_gap_without_questioning_it() -> None:
    registers = STEADY.copy()
    registers[3] = X
    quarantined = np.zeros((1, 9), np.bool_)
    quarantined[0, 3] = True
    day = vee(grid(registers, quarantined=quarantined))
    assert flags(day) == "AAEEAAAA"
    assert day.explain(0, 3) == ["missing", "future", "estimated by linear interpolation"]


def test_a_drifting_clock_makes_its_slots_questionable() -> None:
    drifting = np.zeros((2, 8), np.bool_)
    drifting[1, 3:] = True
    day = vee(grid(STEADY, STEADY, drifting=drifting))
    assert (flags(day, 0), flags(day, 1)) == ("AAAAAAAA", "AAAQQQQQ")
    assert fired(day.rules[1:], Rule.CLOCK) == list(range(3, 8))
    assert day.rule_counts() == {"clock": 5}
    assert day.row_of("M-1") == 1
    assert day.explain(day.row_of("M-1"), 5) == ["clock"]
    with pytest.raises(ValueError, match="no rev row of meter 'M-1'"):
        day.row_of("M-1", Direction.REV)


@pytest.mark.parametrize("off", ["spike", "high"])
def test_a_rule_turned_off_never_fires(off: str) -> None:
    history = flat_like(1, 3, 3, 100 * RES)
    on = vee(grid(running(0, [100, 5_000, 100])), history)
    assert fired(on.rules, Rule[off.upper()]) == [1]
    day = vee(grid(running(0, [100, 5_000, 100])), history, rules=ALL_RULES - {off})
    assert fired(day.rules, Rule[off.upper()]) == []


def test_without_the_missing_rule_a_gap_is_still_filled_but_not_marked() -> None:
    registers = STEADY.copy()
    registers[3] = X
    day = vee(grid(registers), rules=ALL_RULES - {"missing"})
    assert flags(day) == "AAEEAAAA"
    assert day.explain(0, 2) == ["estimated by linear interpolation"]
