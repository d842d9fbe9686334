"""The whole pipeline under any fleet, fault mix and arrival order: messages decoded,
stored, exported through VEE. Every slot flagged A in a file equals the simulator's
truth; every slot flagged E lies where the store lacks one of the slot's readings; and
wherever two readings are stored, the file's slots between them add up to the truth,
estimates included."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import Customer, Device
from kenshin.domain.slots import day_slots, zone
from kenshin.services.export import export_day
from kenshin.services.ingest import Incoming, Ingest
from kenshin.sim.fleet import FleetSpec, fleet_meters, fleet_truth
from kenshin.sim.transmission import fleet_arrivals
from test_export import _MemoryOutbox

START = date(2026, 11, 2)
DAYS = 2
TZ = zone("Asia/Tokyo")
CUSTOMER = Customer("C1", "First")
# Faults whose readings are true (a unit offline, messages repeated or reordered, a
# register rolling over, a meter exchanged, a real spike, a repeated reading with another
# value); those that send wrong readings (stuck, drifting or future clocks) are the
# fault catalogue's.
TRUE_FAULTS = ("offline", "duplicates", "reorder", "rollover", "exchange", "spike", "conflict")
END = day_slots(START + timedelta(days=DAYS), TZ).start


@settings(max_examples=10, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sets(st.sampled_from(TRUE_FAULTS)),
    st.integers(0, 10_000),
    st.sampled_from([1, 50, 2000]),
)
def test_any_fleet_faults_and_arrival_order_keep_the_truth(
    seed: int, faults: set[str], order: int, batch: int
) -> None:
    spec = FleetSpec(6, DAYS, START, seed=seed, faults=frozenset(faults))
    store = MemoryStore()
    store.registry.add_customer(CUSTOMER)
    for device in {m.device for m in fleet_meters(spec)}:
        store.registry.add_device(Device(device, CUSTOMER.id))
    lines = [line for _, line in fleet_arrivals(spec)]
    random.Random(order).shuffle(lines)  # any order, all received after the run
    ingest = Ingest(store)
    for lo in range(0, len(lines), batch):
        ingest.ingest(
            Incoming(f"sim:{lo + n}", line.encode(), END + lo + n)
            for n, line in enumerate(lines[lo : lo + batch])
        )
    truth: dict[tuple[str, str, int], int] = {}
    for slot in fleet_truth(spec):
        truth[(slot.meter, "fwd", slot.start)] = slot.fwd_mwh
        truth[(slot.meter, "rev", slot.start)] = slot.rev_mwh
    outbox = _MemoryOutbox()
    checked = 0
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        export_day(store, outbox, CUSTOMER, day, now=END + 86_400)
        checked += check_day(store, outbox.files[f"C1_{day:%Y%m%d}.csv"].decode(), day, truth)
    assert checked > 6 * 48  # not vacuous: most slots are measured


def check_day(
    store: MemoryStore, text: str, day: date, truth: dict[tuple[str, str, int], int]
) -> int:
    """Check a day's file; how many A slots it compared with the truth."""
    slots = day_slots(day, TZ)
    starts = [slots.start + 1800 * i for i in range(slots.count)]
    checked = 0
    for line in text.split("\r\n")[1:-1]:
        cells = line.split(",")
        meter, direction, flags = cells[0], cells[2], cells[-1]
        values = [None if c == "" else int(Decimal(c) * 1_000_000) for c in cells[3:-2]]
        fwd, rev = store.readings.boundary_registers([meter], slots.start, slots.count)
        known = (fwd if direction == "fwd" else rev)[0] != NO_REGISTER
        true = [truth.get((meter, direction, t)) for t in starts]
        for i, flag in enumerate(flags):
            if flag == "A":
                assert values[i] == true[i], (meter, direction, i)
                checked += 1
            if flag == "E":
                assert not (known[i] and known[i + 1]), (meter, direction, i)
        at = [i for i in range(slots.count + 1) if known[i]]
        for a, b in pairwise(at):
            span = range(a, b)
            if all(flags[i] in "AE" for i in span) and all(true[i] is not None for i in span):
                assert sum(values[i] or 0 for i in span) == sum(true[i] or 0 for i in span)
    return checked
