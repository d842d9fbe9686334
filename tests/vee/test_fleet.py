"""VEE over simulated fleets (rollovers, meter exchanges) with readings lost at random:
measured slots stay the truth, estimates stay inside real gaps of a meter in service,
and every span between two readings adds up to the true energy."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import Direction, Meter
from kenshin.domain.vee import VeeDay, VeeSettings, grid_of, validate_day
from kenshin.domain.vee.grid import DayGrid
from kenshin.sim.fleet import (
    FleetSpec,
    device_registers,
    fleet_calendar,
    fleet_devices,
    fleet_truth,
)

from .conftest import flat_like

DAY = date(2026, 11, 26)


def fleet_grid(spec: FleetSpec, lose: float, seed: int) -> DayGrid:
    """The day's grid of the fleet's meters, each reading lost with chance ``lose``."""
    cal = fleet_calendar(spec)
    losing = random.Random(seed)
    meters: list[Meter] = []
    fwd, rev, service = [], [], []
    for device, _ in fleet_devices(spec, cal):
        rows = {
            p: ([NO_REGISTER] * (cal.slots + 1), [NO_REGISTER] * (cal.slots + 1))
            for p in range(len(device.meters))
        }
        for j, registers in device_registers(spec.seed, cal, device):
            for position, f, r in registers:
                if losing.random() >= lose:
                    modulus = device.meters[position].spec.modulus
                    rows[position][0][j] = f % modulus
                    rows[position][1][j] = r % modulus
        for position, sim in enumerate(device.meters):
            meters.append(Meter(sim.id, sim.device, sim.spec, reverse=sim.kind == "pv"))
            fwd.append(rows[position][0])
            rev.append(rows[position][1])
            service.append([sim.first <= k < sim.last for k in range(cal.slots)])
    g = grid_of(meters, np.array(fwd, np.uint32), np.array(rev, np.uint32))
    by_meter = dict(zip([m.id for m in meters], service, strict=True))
    return replace(g, installed=np.array([by_meter[m] for m in g.meters], np.bool_))


def truth_rows(spec: FleetSpec, g: DayGrid) -> np.ndarray:
    cal = fleet_calendar(spec)
    truth = np.zeros((len(g), cal.slots), np.int64)
    index = {(m, d): i for i, (m, d) in enumerate(zip(g.meters, g.directions, strict=True))}
    for slot in fleet_truth(spec):
        k = (slot.start - cal.boundaries[0]) // 1800
        truth[index[slot.meter, Direction.FWD], k] = slot.fwd_mwh
        if (slot.meter, Direction.REV) in index:
            truth[index[slot.meter, Direction.REV], k] = slot.rev_mwh
    return truth


def check(day: VeeDay, g: DayGrid, truth: np.ndarray) -> None:
    known = g.known()
    service = g.in_service()
    flags = day.flags
    measured = known[:, :-1] & known[:, 1:] & service
    assert np.array_equal(day.values[measured], truth[measured])
    assert np.isin(flags[measured], [ord("A"), ord("Q")]).all()
    estimated = flags == ord("E")
    assert not (estimated & ~service).any()  # never where the meter was not in service
    assert not (estimated & measured).any()  # only in real gaps
    assert (flags[~service] == ord("N")).all()
    for row in range(len(g)):  # every span between two readings adds up
        at = np.flatnonzero(known[row])
        for a, b in pairwise(at.tolist()):
            if (flags[row, a:b] != ord("N")).all():
                assert day.values[row, a:b].sum() == truth[row, a:b].sum()


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.0, 0.05, 0.3]), st.booleans())
def test_a_simulated_fleet_keeps_its_truth_through_vee(
    seed: int, lose: float, history: bool
) -> None:
    spec = FleetSpec(8, 1, DAY, seed=seed, faults=frozenset({"rollover", "exchange"}))
    g = fleet_grid(spec, lose, seed)
    like = flat_like(len(g), g.count, 3 if history else 0, 100_000)
    day = validate_day(g, like, VeeSettings(rules=frozenset({"missing", "negative", "sum"})))
    check(day, g, truth_rows(spec, g))
    if lose == 0.0:
        assert not (day.flags == ord("E")).any()
