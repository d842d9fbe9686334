"""A simulated fleet for the report tests: the catalogue's faults, and three units that
go silent at 03:00 on the run's last day, all on one firmware with a weak signal."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.model import Customer, Device
from kenshin.domain.report import UnitInfo
from kenshin.domain.slots import day_slots, day_start, zone
from kenshin.services.ingest import Incoming, Ingest
from kenshin.sim.fleet import FleetSpec, fleet_meters
from kenshin.sim.transmission import fleet_lines

START = date(2026, 10, 1)
DAYS = 22  # the spikes fall on the last day, which has three like days
LAST = START + timedelta(days=DAYS - 1)
SPEC = FleetSpec(40, DAYS, START, seed=5, faults=frozenset({"spike", "conflict", "future"}))
TZ = zone("Asia/Tokyo")
CUSTOMER = Customer("C1", "First & <Best>")
END = day_slots(START + timedelta(days=DAYS), TZ).start  # the run's end
SILENT = ("U-000002", "U-000003", "U-000004")  # none of them has a fault of the catalogue
CUT = day_start(LAST, TZ) + 3 * 3600  # nothing of theirs from 03:00 on the last day
OLD_FIRMWARE, NEW_FIRMWARE = "1.4.2", "1.5.0"


def units() -> list[UnitInfo]:
    """The silent units run the old firmware at -112 dBm, the others the new at -85 dBm."""
    return [
        UnitInfo(d, CUSTOMER.id, OLD_FIRMWARE, -112, CUT - 1800)
        if d in SILENT
        else UnitInfo(d, CUSTOMER.id, NEW_FIRMWARE, -85, END)
        for d in sorted({m.device for m in fleet_meters(SPEC)})
    ]


def _heard(line: str) -> bool:
    message = json.loads(line)
    if message["device"] not in SILENT:
        return True
    t = message["meters"][0]["readings"][0]["t"]
    return int(datetime.fromisoformat(t).timestamp()) < CUT


@pytest.fixture(scope="package")
def fleet() -> MemoryStore:
    """The fleet's messages taken in after the run, in order of arrival, the silent
    units' messages from the cut left out."""
    store = MemoryStore()
    store.registry.add_customer(CUSTOMER)
    for device in sorted({m.device for m in fleet_meters(SPEC)}):
        store.registry.add_device(Device(device, CUSTOMER.id))
    lines = [line.encode() for line, _ in fleet_lines(SPEC) if _heard(line)]
    ingest = Ingest(store)
    for lo in range(0, len(lines), 2000):
        ingest.ingest(Incoming(f"sim:{lo}", line, END + 60) for line in lines[lo : lo + 2000])
    return store
