"""A meter exchange mid-day: each meter gets exactly its own slots, none across the two.

The old meter reads up to and including the exchange boundary and the new one from that
boundary on, so both read at it. Each slot belongs to the one meter that read at both of its
boundaries; a slot that took the new meter's first register minus the old meter's last would
be energy nobody used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W, SECONDS_PER_HOUR
from kenshin.domain.intervals import MeterDay
from kenshin.domain.model import Customer, Device, Direction, Meter, MeterSpec, Reading
from kenshin.domain.slots import SLOT_SECONDS, DaySlots, day_slots, zone
from kenshin.services.aggregate import aggregate_day
from kenshin.services.export import export_day

OLD, NEW = "M-1", "M-1-X1"
SPECS = st.builds(
    MeterSpec,
    unit_mwh=st.sampled_from([100, 1_000, 10_000, 100_000, 1_000_000]),
    coefficient=st.sampled_from([1, 1, 40]),
    digits=st.integers(2, 8),
)
ZONES = st.sampled_from(["Asia/Tokyo", "Europe/Berlin"])
# Berlin's DST days (46 and 50 slots) are drawn often.
DAYS = st.one_of(
    st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    st.sampled_from([date(2026, 3, 29), date(2026, 10, 25)]),
)
# The most a slot may take under the default demand limit, so that every wrap is a rollover.
SLOT_LIMIT_MWH = DEFAULT_MAX_DEMAND_W * SLOT_SECONDS * 1000 // SECONDS_PER_HOUR


@dataclass(frozen=True)
class Register:
    """One register of one meter over its part of the day: its first boundary, start, steps."""

    spec: MeterSpec
    first: int
    start: int
    steps: tuple[int, ...]

    def values(self) -> list[tuple[int, int]]:
        """(boundary index, register) of each reading, wrapping at the modulus."""
        values = [self.start]
        for step in self.steps:
            values.append((values[-1] + step) % self.spec.modulus)
        return list(enumerate(values, start=self.first))

    def truth(self, count: int) -> list[int | None]:
        """The true mWh of each of the day's ``count`` slots; None outside this register."""
        out: list[int | None] = [None] * count
        for i, step in enumerate(self.steps):
            out[self.first + i] = step * self.spec.resolution_mwh
        return out


@dataclass(frozen=True)
class Exchange:
    """A customer's day with the old meter replaced at boundary ``cut``."""

    zone: str
    slots: DaySlots
    cut: int
    old: dict[Direction, Register]
    new: dict[Direction, Register]


def _steps(draw: st.DrawFn, spec: MeterSpec, count: int) -> tuple[int, ...]:
    most = min(spec.modulus - 1, SLOT_LIMIT_MWH // spec.resolution_mwh)
    return tuple(draw(st.lists(st.integers(0, most), min_size=count, max_size=count)))


def _new_start(draw: st.DrawFn, old_last: int, spec: MeterSpec) -> int:
    """A new meter's first register: near 0 and below the old one's last, or above it."""
    top = spec.modulus - 1
    below = old_last >= top or (old_last > 0 and draw(st.booleans()))
    event("new meter starts " + ("below" if below else "above") + " the old one's last")
    if below:
        return draw(st.integers(0, min(old_last - 1, 9, top)))
    return draw(st.integers(old_last + 1, top))


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    """A day with an exchange anywhere from its first boundary to its last."""
    zone_name, day = draw(ZONES), draw(DAYS)
    slots = day_slots(day, zone(zone_name))
    cut = draw(st.integers(0, slots.count))
    old_spec = draw(SPECS)
    new_spec = draw(st.one_of(st.just(old_spec), SPECS))
    directions = [Direction.FWD, Direction.REV] if draw(st.booleans()) else [Direction.FWD]
    old: dict[Direction, Register] = {}
    new: dict[Direction, Register] = {}
    for direction in directions:
        start = draw(st.integers(0, old_spec.modulus - 1))
        old[direction] = Register(old_spec, 0, start, _steps(draw, old_spec, cut))
        old_last = old[direction].values()[-1][1]
        new_steps = _steps(draw, new_spec, slots.count - cut)
        new[direction] = Register(new_spec, cut, _new_start(draw, old_last, new_spec), new_steps)
    return Exchange(zone_name, slots, cut, old, new)


def _readings(meter: str, registers: dict[Direction, Register], slots: DaySlots) -> list[Reading]:
    fwd = registers[Direction.FWD].values()
    rev = registers[Direction.REV].values() if Direction.REV in registers else None
    return [
        Reading(meter, slots.boundaries[j], value, None if rev is None else rev[i][1])
        for i, (j, value) in enumerate(fwd)
    ]


def _store(customer: Customer, old_spec: MeterSpec, new_spec: MeterSpec) -> MemoryStore:
    store = MemoryStore()
    store.registry.add_customer(customer)
    store.registry.add_device(Device("U-1", customer.id))
    store.registry.save_meters([Meter(OLD, "U-1", old_spec), Meter(NEW, "U-1", new_spec)])
    return store


def _deliver(store: MemoryStore, readings: list[Reading], rnd: random.Random, copies: int) -> None:
    """Every reading, some twice, shuffled and in batches of varying size."""
    delivered = readings + [rnd.choice(readings) for _ in range(copies)]
    rnd.shuffle(delivered)
    lo = 0
    while lo < len(delivered):
        hi = lo + rnd.randint(1, 40)
        result = store.readings.add_readings(delivered[lo:hi], received_at=lo)
        assert result.conflicts == ()
        lo = hi


def _rows(
    store: MemoryStore, customer: Customer, slots: DaySlots
) -> dict[tuple[str, str], MeterDay]:
    return {(d.meter, d.direction): d for d in aggregate_day(store, customer, slots).meter_days()}


@given(exchanges(), st.randoms(use_true_random=False), st.integers(0, 60))
@settings(max_examples=100, deadline=None)
def test_each_meter_gets_exactly_its_own_slots_around_the_exchange(
    case: Exchange, rnd: random.Random, copies: int
) -> None:
    customer = Customer("C1", "Acme", timezone=case.zone)
    slots, cut, count = case.slots, case.cut, case.slots.count
    store = _store(customer, case.old[Direction.FWD].spec, case.new[Direction.FWD].spec)
    readings = _readings(OLD, case.old, slots) + _readings(NEW, case.new, slots)
    _deliver(store, readings, rnd, copies)
    rows = _rows(store, customer, slots)
    assert set(rows) == {(m, d) for m in (OLD, NEW) for d in case.old}
    for direction in case.old:
        old, new = rows[OLD, direction], rows[NEW, direction]
        assert list(old.values) == case.old[direction].truth(count)
        assert list(new.values) == case.new[direction].truth(count)
        assert old.flags == "A" * cut + "N" * (count - cut)
        assert new.flags == "N" * cut + "A" * (count - cut)
        # Every slot has one value, from one meter: none spans the two.
        assert all((a is None) != (b is None) for a, b in zip(old.values, new.values, strict=True))
        if 0 < cut < count:
            true_old = case.old[direction].steps[-1] * case.old[direction].spec.resolution_mwh
            true_new = case.new[direction].steps[0] * case.new[direction].spec.resolution_mwh
            assert (old.values[cut - 1], new.values[cut - 1]) == (true_old, None)
            assert (old.values[cut], new.values[cut]) == (None, true_new)
        day_energy = sum(
            sum(r.steps) * r.spec.resolution_mwh for r in (case.old[direction], case.new[direction])
        )
        assert old.total + new.total == day_energy


# Tokyo, 26 Nov 2026 (48 slots). The old meter (0.1 kWh steps) reads 123400 at 00:00 and
# 2 steps a slot up to the exchange at 10:00 (boundary 20, register 123440); the new meter
# (0.01 kWh steps, 8 digits) reads 7 there, then 30 steps a slot up to 847 at midnight.
DAY = date(2026, 11, 26)
TOKYO = day_slots(DAY, zone("Asia/Tokyo"))
ACME = Customer("C1", "Acme")
OLD_SPEC, NEW_SPEC = MeterSpec(100_000, 1, 6), MeterSpec(10_000, 1, 8)


def _example_store() -> MemoryStore:
    store = _store(ACME, OLD_SPEC, NEW_SPEC)
    old = [Reading(OLD, TOKYO.boundaries[j], 123_400 + 2 * j, None) for j in range(21)]
    new = [Reading(NEW, TOKYO.boundaries[j], 7 + 30 * (j - 20), None) for j in range(20, 49)]
    assert (old[-1].fwd, new[0].fwd, new[-1].fwd) == (123_440, 7, 847)
    _deliver(store, old + new, random.Random(3), copies=10)
    return store


def test_exchange_at_ten_splits_the_day_between_the_meters() -> None:
    rows = _rows(_example_store(), ACME, TOKYO)
    assert list(rows) == [(OLD, Direction.FWD), (NEW, Direction.FWD)]
    assert rows[OLD, Direction.FWD].values == (200_000,) * 20 + (None,) * 28
    assert rows[NEW, Direction.FWD].values == (None,) * 20 + (300_000,) * 28
    assert (rows[OLD, Direction.FWD].total, rows[NEW, Direction.FWD].total) == (
        4_000_000,
        8_400_000,
    )


def test_exported_file_shows_both_meters_of_the_exchange(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)
    outcome = export_day(_example_store(), outbox, ACME, DAY, now=TOKYO.end + 7 * 3600)
    assert (outcome.file_name, outcome.status, outcome.rows) == ("C1_20261126.csv", "final", 2)
    assert (outcome.slots, outcome.actual_slots) == (96, 48)
    content = outbox.read("C1", "C1_20261126.csv")
    assert content is not None
    lines = content.decode().split("\r\n")
    times = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]
    assert lines[0] == ",".join(["meter", "date", "direction", *times, "total_kwh", "quality"])
    assert lines[1] == (
        "M-1,2026-11-26,fwd," + "0.200," * 20 + "," * 28 + "4.000," + "A" * 20 + "N" * 28
    )
    assert lines[2] == (
        "M-1-X1,2026-11-26,fwd," + "," * 20 + "0.300," * 28 + "8.400," + "N" * 20 + "A" * 28
    )
    assert lines[3:] == [""]
