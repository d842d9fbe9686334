"""No false positives: a clean simulated fleet (homes, offices, shops, solar) received as
a live server receives it, 30 days, every day exported with VEE: every slot of every
file is A, and equals the simulator's truth. 100 meters in the default run; the
1,000 meters the VEE issue asks for run with ``-m slow``."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.energy import format_kwh
from kenshin.domain.model import Customer, Device
from kenshin.domain.slots import day_slots, zone
from kenshin.services.export import export_day
from kenshin.services.ingest import Incoming, Ingest
from kenshin.sim.fleet import FleetSpec, fleet_meters, fleet_truth
from kenshin.sim.transmission import fleet_arrivals

START = date(2026, 9, 1)
DAYS = 30
TZ = zone("Asia/Tokyo")
CUSTOMER = Customer("C1", "First")


def flags_and_values(units: int, tmp_path: Path) -> tuple[dict[str, int], int, int]:
    """The flags of every slot of every day's file (counted), the slots that differ from
    the truth, and the slots compared."""
    spec = FleetSpec(units, DAYS, START, seed=21, faults=frozenset())
    store = SqliteStore(tmp_path / "kenshin.db")
    store.registry.add_customer(CUSTOMER)
    for device in {m.device for m in fleet_meters(spec)}:
        store.registry.add_device(Device(device, CUSTOMER.id))
    ingest = Ingest(store)
    batch: list[Incoming] = []
    for at, line in fleet_arrivals(spec):
        batch.append(Incoming(f"sim:{len(batch)}", line.encode(), at))
        if len(batch) == 2000:
            ingest.ingest(batch)
            batch = []
    ingest.ingest(batch)
    truth = {}
    for slot in fleet_truth(spec):
        truth[(slot.meter, slot.start, "fwd")] = slot.fwd_mwh
        truth[(slot.meter, slot.start, "rev")] = slot.rev_mwh
    outbox = LocalOutbox(tmp_path / "outbox")
    end = day_slots(START + timedelta(days=DAYS), TZ).start
    counts: dict[str, int] = {}
    wrong = compared = 0
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        export_day(store, outbox, CUSTOMER, day, now=end + 7 * 3600)
        content = outbox.read(CUSTOMER.id, f"C1_{day:%Y%m%d}.csv")
        assert content is not None
        slots = day_slots(day, TZ)
        for line in content.decode().split("\r\n")[1:-1]:
            cells = line.split(",")
            meter, direction, values, flags = cells[0], cells[2], cells[3:-2], cells[-1]
            for flag in flags:
                counts[flag] = counts.get(flag, 0) + 1
            for i, value in enumerate(values):
                expected = truth.get((meter, slots.start + 1800 * i, direction))
                if expected is not None:
                    compared += 1
                    wrong += value != format_kwh(expected)
    store.close()
    return counts, wrong, compared


@pytest.mark.integration
def test_a_clean_fleet_of_100_meters_over_30_days_has_only_actual_slots(tmp_path: Path) -> None:
    counts, wrong, compared = flags_and_values(100, tmp_path)
    assert set(counts) == {"A"}
    assert wrong == 0
    assert compared == counts["A"] > 100 * 48 * DAYS


@pytest.mark.integration
@pytest.mark.slow
def test_a_clean_fleet_of_1000_meters_over_30_days_has_only_actual_slots(tmp_path: Path) -> None:
    counts, wrong, compared = flags_and_values(1000, tmp_path)
    assert set(counts) == {"A"}
    assert wrong == 0
    assert compared == counts["A"] > 1000 * 48 * DAYS
