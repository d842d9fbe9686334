"""Conservation of energy: slot values add up to the register difference, to the mWh."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.intervals import meter_days, slot_values
from kenshin.domain.model import Direction, MeterSpec, Reading
from kenshin.domain.slots import SLOT_SECONDS, day_slots, zone

SPECS = st.builds(
    MeterSpec,
    unit_mwh=st.sampled_from([100, 1_000, 10_000, 100_000, 1_000_000]),
    coefficient=st.sampled_from([1, 1, 40, 999_999]),
    digits=st.integers(2, 8),
)
ZONES = st.sampled_from(["Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
# Days with DST changes in the zones above are drawn often.
DAYS = st.one_of(
    st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    st.sampled_from([date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)]),
)
HUGE_DEMAND_W = 10**18  # no physically-impossible rollover in these tests


@st.composite
def register_days(draw: st.DrawFn) -> tuple[MeterSpec, str, date, list[int], int]:
    """A spec, a zone, a day, per-slot raw steps below the wrap, and a starting register."""
    spec = draw(SPECS)
    zone_name, day = draw(ZONES), draw(DAYS)
    count = day_slots(day, zone(zone_name)).count
    steps = draw(st.lists(st.integers(0, spec.modulus - 1), min_size=count, max_size=count))
    start = draw(st.integers(0, spec.modulus - 1))
    return spec, zone_name, day, steps, start


def registers_at_boundaries(start: int, steps: list[int], modulus: int) -> list[int]:
    values = [start]
    for step in steps:
        values.append((values[-1] + step) % modulus)
    return values


@given(register_days(), st.randoms(use_true_random=False), st.integers(0, 30))
@settings(max_examples=100)
def test_slot_sum_equals_register_difference_under_rollover_duplicates_and_order(
    case: tuple[MeterSpec, str, date, list[int], int], rnd: random.Random, duplicates: int
) -> None:
    spec, zone_name, day, steps, start = case
    slots = day_slots(day, zone(zone_name))
    values = registers_at_boundaries(start, steps, spec.modulus)
    readings = [Reading("M-1", t, v, None) for t, v in zip(slots.boundaries, values, strict=True)]
    delivered = readings + [readings[i % len(readings)] for i in range(duplicates)]
    rnd.shuffle(delivered)
    store = MemoryStore()
    store.readings.add_readings(delivered, received_at=0)
    [(_, stored)] = list(store.readings.readings_between(["M-1"], slots.start, slots.end))
    [fwd] = meter_days("M-1", stored, slots, spec, HUGE_DEMAND_W)
    assert fwd.flags == "A" * slots.count
    assert list(fwd.values) == [s * spec.resolution_mwh for s in steps]
    assert fwd.total == sum(steps) * spec.resolution_mwh


def test_missing_boundary_reading_gives_no_value_for_both_neighbours() -> None:
    spec = MeterSpec(100_000, 1, 6)
    slots = day_slots(date(2026, 11, 26), zone("Asia/Tokyo"))
    registers = {t: 1000 + i for i, t in enumerate(slots.boundaries) if i != 10}
    values = slot_values(registers, slots, spec)
    assert values[9] is None
    assert values[10] is None
    assert values[8] == 100_000
    assert values[11] == 100_000


def test_reset_is_no_value_and_counting_resumes_after_it() -> None:
    spec = MeterSpec(100_000, 1, 6)
    slots = day_slots(date(2026, 11, 26), zone("Asia/Tokyo"))
    registers = {t: 500_000 + i for i, t in enumerate(slots.boundaries)}
    reset_at = slots.start + 20 * SLOT_SECONDS
    for t in slots.boundaries:
        if t >= reset_at:
            registers[t] = 3 + (t - reset_at) // SLOT_SECONDS
    values = slot_values(registers, slots, spec)
    assert values[19] is None
    assert values[18] == 100_000
    assert values[20] == 100_000


def test_reverse_row_only_when_the_day_has_reverse_readings() -> None:
    spec = MeterSpec(100_000, 1, 6)
    slots = day_slots(date(2026, 11, 26), zone("Asia/Tokyo"))
    only_fwd = [Reading("M", t, i, None) for i, t in enumerate(slots.boundaries)]
    both = [Reading("M", t, i, 2 * i) for i, t in enumerate(slots.boundaries)]
    assert [d.direction for d in meter_days("M", only_fwd, slots, spec)] == [Direction.FWD]
    rows = meter_days("M", both, slots, spec)
    assert [d.direction for d in rows] == [Direction.FWD, Direction.REV]
    assert rows[1].total == 2 * slots.count * 100_000
    assert day_slots(date(2026, 11, 27), zone("Asia/Tokyo")).start == slots.end
    assert slots.end - slots.start == timedelta(days=1).total_seconds()
