"""The simulator's faults, imported and exported: each is found by the right rule on the
right slots, and nothing else is flagged."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.delivery import fleet_faults, fleet_lines
from kenshin.domain.model import Customer, Device
from kenshin.domain.simulation import FleetSpec, fleet_meters
from kenshin.domain.slots import day_slots, zone
from kenshin.services.explain import explain_slot
from kenshin.services.export import ExportSettings, export_day
from kenshin.services.ingest import Incoming, Ingest

START = date(2026, 10, 1)
DAYS = 22  # the spikes fall on the last day, which has three like days
SPEC = FleetSpec(40, DAYS, START, seed=5, faults=frozenset({"spike", "conflict", "future"}))
TZ = zone("Asia/Tokyo")
CUSTOMER = Customer("C1", "First")
END = day_slots(START + timedelta(days=DAYS), TZ).start  # the run's end
Flags = dict[tuple[str, int], str]  # (meter/direction, slot start) -> flag, where not A


def test_each_fault_is_found_on_its_slots_by_its_rule_and_nothing_else(tmp_path: Path) -> None:
    store = imported()
    assert exported_flags(store, LocalOutbox(tmp_path)) == expected_flags(store)
    assert Counter(fault for _, fault, _ in fleet_faults(SPEC)) == {
        "spike": 3,
        "conflict": 3,
        "future": 3,
    }
    last = START + timedelta(days=DAYS - 1)
    meter_of = {m.device: m.id for m in fleet_meters(SPEC)}
    for device, fault, t in fleet_faults(SPEC):
        if fault == "spike":  # found by the spike rule, not by chance
            minutes = (t - day_slots(last, TZ).start) // 60
            label = f"{minutes // 60:02d}:{minutes % 60:02d}"
            why = explain_slot(store, ExportSettings(), meter_of[device], last, label, now=END)
            assert "spike" in why.rows[0].reasons


def imported() -> MemoryStore:
    """The fleet's messages taken in, in order of arrival, after the run."""
    store = MemoryStore()
    store.add_customer(CUSTOMER)
    for device in {m.device for m in fleet_meters(SPEC)}:
        store.add_device(Device(device, CUSTOMER.id))
    lines = [line.encode() for line, _ in fleet_lines(SPEC)]
    ingest = Ingest(store)
    for lo in range(0, len(lines), 2000):
        ingest.ingest(Incoming(f"sim:{lo}", line, END + 60) for line in lines[lo : lo + 2000])
    return store


def exported_flags(store: MemoryStore, outbox: LocalOutbox) -> Flags:
    """The flags other than A of every day's file."""
    flagged: Flags = {}
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        export_day(store, outbox, CUSTOMER, day, now=END + 3600)
        start = day_slots(day, TZ).start
        content = outbox.read(CUSTOMER.id, f"C1_{day:%Y%m%d}.csv")
        assert content is not None
        for row in content.decode().split("\r\n")[1:-1]:
            cells = row.split(",")
            flagged |= {
                (f"{cells[0]}/{cells[2]}", start + 1800 * i): flag
                for i, flag in enumerate(cells[-1])
                if flag != "A"
            }
    return flagged


def expected_flags(store: MemoryStore) -> Flags:
    """Where each fault should show: a spike's slot Q; both slots of a conflicting
    reading Q; both slots of a quarantined (future-dated) reading estimated, E."""
    expected: Flags = {}
    meter_of = {m.device: m.id for m in fleet_meters(SPEC)}
    for device, fault, t in fleet_faults(SPEC):
        meter = store.get_meter(meter_of[device])
        assert meter is not None
        rows = [f"{meter.id}/fwd", *([f"{meter.id}/rev"] if meter.reverse else [])]
        if fault == "spike":
            expected[(rows[0], t)] = "Q"
        else:
            flag = "Q" if fault == "conflict" else "E"
            expected |= {(row, slot): flag for row in rows for slot in (t - 1800, t)}
    return expected
