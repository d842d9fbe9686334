"""The simulator's faults, received as a live server would receive them and exported: each
is found by the right rule on the right slots, and nothing else is flagged."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.model import Customer, Device
from kenshin.domain.slots import day_slots, zone
from kenshin.domain.vee import CLOCK_WINDOW_S, VeeSettings
from kenshin.services.explain import explain_slot
from kenshin.services.export import ExportSettings, export_day
from kenshin.services.ingest import Incoming, Ingest
from kenshin.sim.faults import STUCK_SLOTS
from kenshin.sim.fleet import FleetSpec, SimDevice, fleet_calendar, fleet_devices, fleet_meters
from kenshin.sim.transmission import fleet_arrivals, fleet_faults

pytestmark = pytest.mark.integration

START = date(2026, 10, 1)
DAYS = 22  # the spikes fall on the last day, which has three like days
FAULTS = frozenset({"spike", "conflict", "future", "stuck", "clock", "clock_drift"})
SPEC = FleetSpec(40, DAYS, START, seed=5, faults=FAULTS)
TZ = zone("Asia/Tokyo")
CUSTOMER = Customer("C1", "First")
END = day_slots(START + timedelta(days=DAYS), TZ).start  # the run's end
Flags = dict[tuple[str, int], str]  # (meter/direction, slot start) -> flag, where not A


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    """The fleet taken in once for the module's tests (which only add file revisions)."""
    return imported()


def test_each_fault_is_found_on_its_slots_by_its_rule_and_nothing_else(
    store: MemoryStore, tmp_path: Path
) -> None:
    assert exported_flags(store, LocalOutbox(tmp_path)) == expected_flags(store)
    assert Counter(fault for _, fault, _ in fleet_faults(SPEC)) == {
        "spike": 3,
        "conflict": 3,
        "future": 3,
        "stuck": 3,
        "clock_drift": 3,
    }
    last = START + timedelta(days=DAYS - 1)
    meter_of = {m.device: m.id for m in fleet_meters(SPEC)}
    # A drifting clock reads a spike partly in the next slot: flagged, by other rules.
    shifted = {d for d, fault, _ in fleet_faults(SPEC) if fault == "clock_drift"}
    for device, fault, t in fleet_faults(SPEC):
        if fault in ("spike", "stuck") and device not in shifted:  # its own rule, not chance
            minutes = (t - day_slots(last, TZ).start) // 60
            label = f"{minutes // 60:02d}:{minutes % 60:02d}"
            why = explain_slot(store, ExportSettings(), meter_of[device], last, label, now=END)
            assert fault in why.rows[0].reasons


def test_a_drifting_clock_is_flagged_from_the_window_where_it_passed_the_limit(
    store: MemoryStore,
) -> None:
    limit, slots = VeeSettings().drift_limit_s, fleet_calendar(SPEC).slots
    run_start = day_slots(START, TZ).start
    devices = [d for d, _ in fleet_devices(SPEC, fleet_calendar(SPEC)) if d.drift_s]
    drifting = [d for d in devices if "clock" not in d.faults]  # a `clock` unit is off at once
    assert len(drifting) == 2
    for device in drifting:
        (spell,) = store.unit_clocks.drift_spells(run_start, END, [device.id])
        assert spell.end is None
        assert spell.start % CLOCK_WINDOW_S == 0
        crossed = next(j for j in range(slots + 1) if device.lag_s(j, slots) > limit)
        # Judged on the first whole window after the lag passed the limit, not later.
        assert 0 <= spell.start - (run_start + 1800 * crossed) < 2 * CLOCK_WINDOW_S
        assert spell.offset_s > limit
    last_seen = store.unit_clocks.last_seen()
    assert len(last_seen) == SPEC.devices
    assert all(END - 3600 < t <= END + 2 * 3600 for t in last_seen.values())


def imported() -> MemoryStore:
    """The fleet's messages taken in as they arrive, in batches of 2,000."""
    store = MemoryStore()
    store.registry.add_customer(CUSTOMER)
    for device in {m.device for m in fleet_meters(SPEC)}:
        store.registry.add_device(Device(device, CUSTOMER.id))
    arrivals = list(fleet_arrivals(SPEC))
    ingest = Ingest(store)
    for lo in range(0, len(arrivals), 2000):
        ingest.ingest(
            Incoming(f"sim:{lo + n}", line.encode(), at)
            for n, (at, line) in enumerate(arrivals[lo : lo + 2000])
        )
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
    """Where each fault should show: every slot of a unit's clock off by more than the
    limit Q, from the window of receipt where that was first seen; a spike's slot Q; the
    slots of a stuck register Q; both slots of a conflicting reading Q; both slots of a
    quarantined (future-dated) reading estimated, E (it has no value to question)."""
    expected: Flags = {}
    meter_of = {m.device: m.id for m in fleet_meters(SPEC)}
    for device, since in clock_spells().items():
        rows = rows_of(store, meter_of[device])
        expected |= {(row, t): "Q" for row in rows for t in range(since, END, 1800)}
    for device, fault, t in sorted(fleet_faults(SPEC), key=lambda f: f[1] == "future"):
        rows = rows_of(store, meter_of[device])
        if fault == "spike":
            expected[(rows[0], t)] = "Q"
        elif fault == "stuck":
            expected |= {(rows[0], t + 1800 * k): "Q" for k in range(STUCK_SLOTS)}
        elif fault in ("conflict", "future"):
            flag = "Q" if fault == "conflict" else "E"
            expected |= {(row, slot): flag for row in rows for slot in (t - 1800, t)}
    return expected


def rows_of(store: MemoryStore, meter_id: str) -> list[str]:
    meter = store.registry.get_meter(meter_id)
    assert meter is not None
    return [f"{meter.id}/fwd", *([f"{meter.id}/rev"] if meter.reverse else [])]


def clock_spells() -> dict[str, int]:
    """Per unit whose clock was off: the start of the first window of receipt (3 hours) of
    at least 5 messages whose smallest (received - sent) is more than 2 minutes either way
    (the simulated network adds no delay, and these clocks stay off once off)."""
    offsets: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for at, line in fleet_arrivals(SPEC):
        message = json.loads(line)
        sent = int(datetime.fromisoformat(message["sent"]).timestamp())
        offsets[message["device"]][at // CLOCK_WINDOW_S].append(at - sent)
    faulty = {d.id for d, _ in fleet_devices(SPEC, fleet_calendar(SPEC)) if _clock_off(d)}
    spells = {}
    for device, windows in offsets.items():
        off = [
            w for w, found in sorted(windows.items()) if len(found) >= 5 and abs(min(found)) > 120
        ]
        if off:
            assert device in faulty
            spells[device] = off[0] * CLOCK_WINDOW_S
    assert set(spells) == faulty
    return spells


def _clock_off(device: SimDevice) -> bool:
    return bool(device.drift_s) or "clock" in device.faults
