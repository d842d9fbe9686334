"""The simulator's faults of wrong readings: a stuck register and a drifting clock. The
truth keeps the real consumption; the messages show what such a unit would send."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime

import pytest

from kenshin.sim.faults import FAULTS, STUCK_MIN_MWH, STUCK_SLOTS, parse_faults
from kenshin.sim.fleet import FleetSpec, fleet_calendar, fleet_devices, fleet_truth
from kenshin.sim.transmission import fleet_arrivals, fleet_faults

START = date(2026, 10, 1)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def forward_readings(spec: FleetSpec) -> dict[str, dict[int, int]]:
    """Each meter's first forward register at each instant, from the messages."""
    found: dict[str, dict[int, int]] = defaultdict(dict)
    for _, line in fleet_arrivals(spec):
        for block in json.loads(line)["meters"]:
            for r in block["readings"]:
                found[block["meter"]].setdefault(epoch(r["t"]), r["fwd"])
    return found


def test_all_leaves_out_the_faults_of_wrong_readings_which_are_named_instead() -> None:
    assert parse_faults("all") == frozenset(FAULTS)
    assert parse_faults("all, Stuck") == {*FAULTS, "stuck"}
    assert parse_faults("clock_drift") == {"clock_drift"}
    with pytest.raises(
        ValueError, match=r"unknown fault brownout: choose from .*stuck, clock_drift"
    ):
        parse_faults("brownout,stuck")


def test_a_stuck_register_stops_on_the_last_day_and_the_truth_keeps_consuming() -> None:
    spec = FleetSpec(12, 15, START, seed=3, faults=frozenset({"stuck"}))
    clean = FleetSpec(12, 15, START, seed=3)
    assert list(fleet_truth(spec)) == list(fleet_truth(clean))
    cal = fleet_calendar(spec)
    readings = forward_readings(spec)
    truth = {(s.meter, s.start): s.fwd_mwh for s in fleet_truth(spec)}
    stuck = [(d, t) for d, fault, t in fleet_faults(spec) if fault == "stuck"]
    assert len(stuck) == 1
    device, first = stuck[0]
    (sim,) = [d for d, _ in fleet_devices(spec, cal) if d.id == device]
    meter, resolution = sim.meters[-1].id, sim.meters[-1].spec.resolution_mwh
    assert first >= cal.boundaries[cal.day_edges[-2]]  # on the run's last day
    spell = [first + 1800 * k for k in range(STUCK_SLOTS + 1)]
    assert len({readings[meter][t] for t in spell}) == 1
    assert all(truth[(meter, t)] >= STUCK_MIN_MWH for t in spell[:-1])
    # The lost energy is never registered: the register goes on from where it stopped.
    (before, after) = (readings[meter][spell[-1]], readings[meter][spell[-1] + 1800])
    assert after - before in (
        truth[(meter, spell[-1])] // resolution + step for step in (0, 1)
    )  # a register step, the energy's remainder carried on
    others = forward_readings(clean)
    assert {m: r for m, r in readings.items() if m != meter} == {
        m: r for m, r in others.items() if m != meter
    }


def test_a_drifting_clock_is_received_late_by_its_lag_and_reads_later_registers() -> None:
    spec = FleetSpec(12, 3, START, seed=4, faults=frozenset({"clock_drift"}))
    cal = fleet_calendar(spec)
    (device,) = [d for d, _ in fleet_devices(spec, cal) if d.drift_s]
    offsets = {}
    for at, line in fleet_arrivals(spec):
        message = json.loads(line)
        if message["device"] == device.id:
            (block,) = message["meters"]
            (reading,) = block["readings"]
            assert epoch(reading["t"]) % 1800 == 0  # stamped on its own clock's boundary
            offsets[epoch(reading["t"])] = at - epoch(message["sent"])
    assert list(offsets.values()) == [device.lag_s(j, cal.slots) for j in range(cal.slots + 1)]
    assert offsets[cal.boundaries[-1]] == device.drift_s
    assert 300 <= device.drift_s <= 1500
    # A reading holds the register of lag_s later: between its boundary's and the next's.
    meter = device.meters[0]
    readings = forward_readings(spec)[meter.id]
    clean = forward_readings(FleetSpec(12, 3, START, seed=4))[meter.id]
    for j in (cal.slots // 2, cal.slots - 1):
        t, lag = cal.boundaries[j], device.lag_s(j, cal.slots)
        assert readings[t] == clean[t] + (clean[t + 1800] - clean[t]) * lag // 1800
    assert readings[cal.boundaries[0]] == clean[cal.boundaries[0]]
    assert readings[cal.boundaries[-1]] == clean[cal.boundaries[-1]]
