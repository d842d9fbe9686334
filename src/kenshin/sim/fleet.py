"""A simulated fleet: meter units, their meters and registers, and the exact truth behind them.

Deterministic: the same FleetSpec gives the same meters, registers and truth. A device's
consumption comes from its load profile (home, office, shop, solar-PV home; see
kenshin.sim.profiles) in whole mWh per slot; a register reads floor(cumulative mWh /
resolution) mod 10**digits, so a slot's true energy is its register difference times the
resolution. The faults a device has (kenshin.sim.faults) do not change its consumption.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from itertools import chain
from typing import NamedTuple

from kenshin.domain.model import DEFAULT_TIMEZONE, MeterSpec
from kenshin.domain.slots import zone
from kenshin.domain.spread import FULL_SPREAD_S
from kenshin.sim.faults import (
    check_faults,
    drift_behind_s,
    faulty_devices,
    rollover_start,
    spike_slot,
    stuck_spell,
)
from kenshin.sim.profiles import (
    FleetCalendar,
    Profile,
    day_energies,
    draw_profile,
    run_calendar,
    seeded_stream,
)

# (meter position in the device, unwrapped fwd register, unwrapped rev register)
Registers = tuple[tuple[int, int, int], ...]

_HOME_SPECS = (MeterSpec(100_000, 1, 6), MeterSpec(10_000, 1, 8))
_HOME_SPEC_WEIGHTS = (85, 15)
_BUSINESS_SPECS = (
    MeterSpec(1_000, 40, 6),
    MeterSpec(1_000, 20, 6),
    MeterSpec(1_000, 60, 6),
    MeterSpec(10_000, 1, 8),
    MeterSpec(100_000, 1, 6),
)
_BUSINESS_SPEC_WEIGHTS = (30, 10, 10, 30, 20)


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What to simulate: ``devices`` units for ``days`` local days from ``start``. With
    ``spread_s``, each unit is given its reporting offset in that window, as the endpoint's
    CONNACK gives it (kenshin.domain.spread), and sends at it; None: at :00 and :30."""

    devices: int
    days: int
    start: date
    timezone: str = DEFAULT_TIMEZONE
    seed: int = 0
    faults: frozenset[str] = frozenset()
    spread_s: int | None = None

    def __post_init__(self) -> None:
        if self.devices < 0:
            raise ValueError("devices must be 0 or more")
        if self.days < 1:
            raise ValueError("days must be 1 or more")
        if self.spread_s is not None and not 0 <= self.spread_s <= FULL_SPREAD_S:
            raise ValueError(f"the spread window is 0..{FULL_SPREAD_S} s")
        check_faults(self.faults)
        zone(self.timezone)


@dataclass(frozen=True, slots=True)
class SimMeter:
    """A simulated meter and its device's profile (home, pv, office or shop).

    It reports at boundaries ``first``..``last`` (indices into the run), starting from
    cumulative energies ``start_fwd_mwh`` and ``start_rev_mwh``.
    """

    device: str
    id: str
    kind: str
    spec: MeterSpec
    first: int
    last: int
    start_fwd_mwh: int
    start_rev_mwh: int


class TruthSlot(NamedTuple):
    """The exact energy of one meter's slot starting at ``start`` (UTC epoch s)."""

    meter: str
    start: int
    fwd_mwh: int
    rev_mwh: int


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A simulated unit, ``index`` in the fleet: its profile, meters and faults; with the
    ``spike`` fault, the slot of the spike and the energy it adds (mWh); with ``stuck``,
    the slots [first, end) whose forward energy is never registered; with
    ``clock_drift``, how far behind (s) the unit's clock is at the run's end."""

    index: int
    id: str
    profile: Profile
    meters: tuple[SimMeter, ...]
    faults: frozenset[str]
    spike: tuple[int, int] | None = None
    stuck: tuple[int, int] | None = None
    drift_s: int = 0

    def lag_s(self, j: int, slots: int) -> int:
        """How far behind true time the unit's clock is at boundary ``j`` of ``slots``."""
        return self.drift_s * j // max(1, slots)


def fleet_meters(spec: FleetSpec) -> Iterator[SimMeter]:
    """Every meter of the fleet, device by device, in the order each device reports them."""
    cal = fleet_calendar(spec)
    for device, _ in fleet_devices(spec, cal):
        yield from device.meters


def fleet_truth(spec: FleetSpec) -> Iterator[TruthSlot]:
    """The exact energy of every slot of every meter, meter by meter in time order."""
    cal = fleet_calendar(spec)
    for device, _ in fleet_devices(spec, cal):
        prev: dict[int, tuple[int, int]] = {}
        for j, registers in device_registers(spec.seed, cal, device):
            for position, fwd, rev in registers:
                meter = device.meters[position]
                if position in prev:
                    res = meter.spec.resolution_mwh
                    before_fwd, before_rev = prev[position]
                    start = cal.boundaries[j - 1]
                    yield TruthSlot(
                        meter.id, start, (fwd - before_fwd) * res, (rev - before_rev) * res
                    )
                prev[position] = (fwd, rev)


def fleet_calendar(spec: FleetSpec) -> FleetCalendar:
    """The run's calendar: its boundaries, and every slot's profile shapes and weather."""
    return run_calendar(spec.start, spec.days, spec.timezone, spec.seed)


def _draw_spec(rng: random.Random, kind: str) -> MeterSpec:
    if kind in ("office", "shop"):
        return rng.choices(_BUSINESS_SPECS, _BUSINESS_SPEC_WEIGHTS)[0]
    return rng.choices(_HOME_SPECS, _HOME_SPEC_WEIGHTS)[0]


def _start_mwh(rng: random.Random, spec: MeterSpec, most: int) -> int:
    return rng.randrange(most) * spec.resolution_mwh + rng.randrange(spec.resolution_mwh)


def fleet_devices(spec: FleetSpec, cal: FleetCalendar) -> Iterator[tuple[SimDevice, random.Random]]:
    """Every device with its seeded stream, already drawn on for the device's meters.

    The faults of transmission draw on from that stream, as they always have, so they never
    change the meters or the consumption.
    """
    members = faulty_devices(spec.seed, spec.devices, spec.faults)
    for index in range(spec.devices):
        faults = frozenset(name for name, chosen in members.items() if index in chosen)
        rng = seeded_stream(f"{spec.seed}:device:{index}")
        profile = draw_profile(rng)
        meters = _meters(spec.seed, cal, index, profile, faults, rng)
        spike = spike_slot(spec.seed, cal, profile, index) if "spike" in faults else None
        stuck = stuck_spell(spec.seed, cal, profile, index, spike) if "stuck" in faults else None
        drift = drift_behind_s(spec.seed, index) if "clock_drift" in faults else 0
        device = SimDevice(index, meters[0].device, profile, meters, faults, spike, stuck, drift)
        yield device, rng


def _meters(
    seed: int,
    cal: FleetCalendar,
    index: int,
    profile: Profile,
    faults: frozenset[str],
    rng: random.Random,
) -> tuple[SimMeter, ...]:
    spec = _draw_spec(rng, profile.kind)
    fwd = _start_mwh(rng, spec, spec.modulus // 5)
    rev = _start_mwh(rng, spec, spec.modulus // 50) if profile.pv_w else 0
    s = cal.slots
    swap = s // 2 + rng.randrange(s // 4 + 1)
    if "rollover" in faults:
        fwd, wrap = rollover_start(seed, cal, profile, index, spec, rng.randint(s // 8, s // 3))
        swap = min(max(swap, wrap + 2), s - 1)
    device = f"U-{index + 1:06d}"
    meter = SimMeter(device, f"M-{index + 1:07d}", profile.kind, spec, 0, s, fwd, rev)
    if "exchange" not in faults:
        return (meter,)
    new_spec = spec if rng.random() < 0.5 else _draw_spec(rng, profile.kind)
    new_fwd = _start_mwh(rng, new_spec, 50)
    new_rev = _start_mwh(rng, new_spec, 10) if profile.pv_w else 0
    new = SimMeter(device, f"{meter.id}-X1", profile.kind, new_spec, swap, s, new_fwd, new_rev)
    return (replace(meter, last=swap), new)


def device_registers(
    seed: int, cal: FleetCalendar, device: SimDevice, *, reported: bool = False
) -> Iterator[tuple[int, Registers]]:
    """Each boundary with the unwrapped registers of the device's meters that report there:
    true to the consumption, or ``reported`` as the meters show them (a ``stuck``
    register does not count the energy of its spell)."""
    meters = device.meters
    res = [m.spec.resolution_mwh for m in meters]
    fwd = [m.start_fwd_mwh for m in meters]
    rev = [m.start_rev_mwh for m in meters]
    swap = meters[-1].first or -1  # the exchange boundary; -1 when there is one meter
    days = range(len(cal.day_edges) - 1)
    energies = chain.from_iterable(
        zip(*day_energies(seed, cal, device.profile, device.index, day), strict=True)
        for day in days
    )
    p = 0
    spike_slot, spike_mwh = device.spike or (-1, 0)
    stuck_first, stuck_end = device.stuck if reported and device.stuck else (-1, -1)
    for j, (fwd_mwh, rev_mwh) in enumerate(energies):
        if j == spike_slot:
            fwd_mwh += spike_mwh
        if stuck_first <= j < stuck_end:
            fwd_mwh = 0  # consumed, never registered
        if j == swap:
            yield (
                j,
                ((0, fwd[0] // res[0], rev[0] // res[0]), (1, fwd[1] // res[1], rev[1] // res[1])),
            )
            p = 1
        else:
            yield j, ((p, fwd[p] // res[p], rev[p] // res[p]),)
        fwd[p] += fwd_mwh
        rev[p] += rev_mwh
    yield cal.slots, ((p, fwd[p] // res[p], rev[p] // res[p]),)
