"""VEE over a whole fleet's day: every rule and every estimate, on numpy arrays.

Builds METERS meters of the simulator's load profiles (home, solar-PV home, office,
shop) over one Tokyo day and the same weekday 1, 2 and 3 weeks before, turns them
into boundary registers, breaks a few % of the meters (gaps short and long, silent
days, spikes, stuck and reset registers, exchanges, conflicting readings, drifting
clocks), then times ``validate_day``. Reports the flags on the broken meters and on
the clean ones (a flag there is a false positive), and checks conservation.

    python bench/bench_vee.py [--meters N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from kenshin.domain.daytable import slot_grid
from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import Direction
from kenshin.domain.vee import DayGrid, LikeDays, Method, VeeDay, VeeSettings, validate_day
from kenshin.sim.profiles import draw_profile, run_calendar, seeded_stream

DAY = date(2026, 11, 26)
WEEKS = 3
SLOTS = 48
Ints = npt.NDArray[np.int64]
FAULTS = ("short", "long", "silent", "spike", "stuck", "reset", "exchange", "conflict", "clock")
FAULT_PERCENT = (3.0, 1.0, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1, 0.5)


def fleet_energy(meters: int, seed: int) -> tuple[Ints, Ints]:
    """Net mWh of each meter's slots over the 3 like days and the day (meters, 4, 48),
    drawn as the simulator draws them, and each meter's mWh per register step."""
    start = DAY - timedelta(weeks=WEEKS)
    cal = run_calendar(start, WEEKS * 7 + 1, "Asia/Tokyo", seed)
    days = [w * 7 for w in range(WEEKS + 1)]
    picks = np.concatenate([np.arange(d * SLOTS, (d + 1) * SLOTS) for d in days])
    shapes = {name: np.array(series)[picks] for name, series in cal.shapes.items()}
    names = [n for n in shapes if n != "solar"]
    rng = seeded_stream(f"{seed}:bench")
    profiles = [draw_profile(rng) for _ in range(meters)]
    base = np.array([p.base_w for p in profiles])
    weights = np.zeros((meters, len(names)))
    for i, p in enumerate(profiles):
        for name, watts in p.terms:
            weights[i, names.index(name)] = watts
    pv = np.array([p.pv_w for p in profiles])
    load = base[:, None] + weights @ np.stack([shapes[n] for n in names])
    noise = np.random.default_rng(seed)
    net = load * noise.uniform(0.7, 1.3, load.shape)
    net -= pv[:, None] * shapes["solar"] * noise.uniform(0.8, 1.2, load.shape)
    resolution = np.where(noise.random(meters) < 0.85, 100_000, 10_000).astype(np.int64)
    return (net * 500).astype(np.int64).reshape(meters, WEEKS + 1, SLOTS), resolution


def registers_of(energy: Ints, resolution: Ints, modulus: Ints, seed: int) -> Ints:
    """Boundary registers (raw, wrapped) of each day: a random start, then the running sum."""
    rng = np.random.default_rng(seed + 1)
    start = rng.integers(0, (modulus // 5)[:, None], energy.shape[:-1]) * resolution[:, None]
    running = np.concatenate([np.zeros((*energy.shape[:-1], 1), np.int64), energy], axis=-1)
    cumulative = start[..., None] + np.cumsum(running, axis=-1)
    raw = cumulative // resolution[:, None, None]
    return np.asarray(raw % modulus[:, None, None])


def past_weeks(registers: Ints, resolution: Ints, modulus: Ints) -> LikeDays:
    """The like days (1, 2, 3 weeks before) as the store would give them: all actual here."""
    raw = np.diff(registers[:, :WEEKS], axis=-1)
    values = np.where(raw < 0, raw + modulus[:, None, None], raw) * resolution[:, None, None]
    values = values[:, ::-1].copy()
    return LikeDays(values, np.full(values.shape, ord("A"), np.uint8))


Marks = dict[str, npt.NDArray[np.bool_]]


def break_some(
    regs: Ints, resolution: Ints, modulus: Ints, seed: int
) -> tuple[dict[str, Ints], npt.NDArray[np.bool_], Marks]:
    """Apply the faults to a few % of the rows of the day's registers, in place."""
    rng = np.random.default_rng(seed + 2)
    meters = regs.shape[0]
    order = rng.permutation(meters)
    picked: dict[str, Ints] = {}
    lo = 0
    for fault, percent in zip(FAULTS, FAULT_PERCENT, strict=True):
        count = int(meters * percent / 100)
        picked[fault] = np.sort(order[lo : lo + count])
        lo += count
    cuts = np.asarray(rng.integers(1, SLOTS - 20, size=meters), np.int64)
    cut: list[int] = cuts.tolist()
    short: list[int] = np.asarray(rng.integers(1, 5, size=meters)).tolist()
    long: list[int] = np.asarray(rng.integers(5, 17, size=meters)).tolist()
    for fault, length in (("short", short), ("long", long)):
        for m in picked[fault].tolist():
            regs[m, cut[m] : cut[m] + length[m] - 1 + (fault == "long")] = NO_REGISTER
    regs[picked["silent"]] = NO_REGISTER
    for m in picked["spike"].tolist():  # 20 kWh more in one slot
        regs[m, cut[m] :] = (regs[m, cut[m] :] + 20_000_000 // int(resolution[m])) % modulus[m]
    for m in picked["stuck"].tolist():
        regs[m, cut[m] :] = regs[m, cut[m]]
    for m in picked["reset"].tolist():
        regs[m, cut[m] :] = (regs[m, cut[m] :] - regs[m, cut[m]] + 3) % modulus[m]
    installed = np.ones((meters, SLOTS), np.bool_)
    for m in picked["exchange"].tolist():
        regs[m, cut[m] + 1 :] = NO_REGISTER
        installed[m, cut[m] :] = False
    marks = {
        "conflicts": np.zeros(regs.shape, np.bool_),
        "drifting": np.zeros((meters, SLOTS), np.bool_),  # the unit's clock off all day
    }
    marks["conflicts"][picked["conflict"], cuts[picked["conflict"]]] = True
    marks["drifting"][picked["clock"]] = True
    return picked, installed, marks


def fleet_day(meters: int, seed: int) -> tuple[DayGrid, LikeDays, dict[str, Ints], Ints]:
    """The grid of the day with its faults, the like days, the broken rows, and the like
    days' registers (rows x weeks x boundaries)."""
    net, res = fleet_energy(meters, seed)
    pv = np.flatnonzero((net < 0).any(axis=(1, 2)))
    energy = np.concatenate([np.maximum(net, 0), np.maximum(-net[pv], 0)])
    resolution = np.concatenate([res, res[pv]])
    modulus = np.where(resolution == 100_000, 10**6, 10**8).astype(np.int64)
    registers = registers_of(energy, resolution, modulus, seed)
    like = past_weeks(registers, resolution, modulus)
    today = registers[:, WEEKS].copy()
    picked, installed, marks = break_some(today, resolution, modulus, seed)
    ids = tuple(f"M-{i:07d}" for i in range(meters)) + tuple(f"M-{i:07d}" for i in pv.tolist())
    directions = (Direction.FWD,) * meters + (Direction.REV,) * len(pv)
    grid = DayGrid(
        ids,
        directions,
        today.astype(np.uint32),
        resolution,
        modulus,
        np.full(len(ids), 100_000, np.int64),
        installed=installed,
        conflicts=marks["conflicts"],
        drifting=marks["drifting"],
    )
    return grid, like, picked, registers[:, :WEEKS]


def report(day: VeeDay, grid: DayGrid, picked: dict[str, Ints]) -> None:
    """Flags on the broken rows, fault by fault, and on the clean rows."""
    broken = np.zeros(len(day), np.bool_)
    for fault, rows in picked.items():
        broken[rows] = True
        flags = {f: int(np.count_nonzero(day.flags[rows] == ord(f))) for f in "AEQN"}
        print(f"  {fault:9} {len(rows):6,} rows: {flags}")
    clean = ~broken
    flags = {f: int(np.count_nonzero(day.flags[clean] == ord(f))) for f in "AEQN"}
    print(f"  clean     {int(clean.sum()):6,} rows: {flags}")
    values, _ = grid.slots()
    assert np.array_equal(day.values[day.flags == ord("A")], values[day.flags == ord("A")])
    methods = {m.name: int(np.count_nonzero(day.methods == m)) for m in Method if m}
    print(f"  estimates by method: {methods}")


def check_conservation(day: VeeDay, grid: DayGrid) -> None:
    """Where both of a row's day-end registers are known and every slot has a value, the
    slots add up to the register difference (no row here wraps twice in a day)."""
    regs = grid.registers.astype(np.int64)
    full = (regs[:, 0] != NO_REGISTER) & (regs[:, -1] != NO_REGISTER)
    full &= (day.flags != ord("N")).all(axis=1)
    raw = regs[full, -1] - regs[full, 0]
    raw = np.where(raw < 0, raw + grid.modulus[full], raw)
    assert np.array_equal(day.values[full].sum(axis=1), raw * grid.resolution_mwh[full])
    print(f"  conservation holds on all {int(full.sum()):,} complete rows")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" numpy {np.__version__}, load {os.getloadavg()[0]:.2f}"
    )
    started = time.perf_counter()
    grid, like, picked, past = fleet_day(args.meters, args.seed)
    print(
        f"built {len(grid):,} rows ({args.meters:,} meters) x {grid.count} slots and"
        f" {WEEKS} like days in {time.perf_counter() - started:.1f} s"
    )
    t0 = time.perf_counter()
    for week in range(WEEKS):  # what the export pays to make the like days from registers
        slot_grid(
            past[:, week].astype(np.uint32), grid.resolution_mwh, grid.modulus, grid.max_demand_w
        )
    print(f"like days from {WEEKS} weeks of registers: {time.perf_counter() - t0:.2f} s")
    settings = VeeSettings()
    for run in range(args.repeat):
        t0, cpu = time.perf_counter(), time.process_time()
        day = validate_day(grid, like, settings)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
        print(f"validate_day {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    report(day, grid, picked)
    check_conservation(day, grid)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
