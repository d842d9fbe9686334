"""A simulated fleet: meter units, their meters and registers, and the exact truth behind them.

Deterministic: the same FleetSpec gives the same meters, registers and truth. A device's
consumption comes from its load profile (home, office, shop, solar-PV home; see
kenshin.domain.profiles) in whole mWh per slot; a register reads floor(cumulative mWh /
resolution) mod 10**digits, so a slot's true energy is its register difference times the
resolution. The faults a device has do not change its consumption.

Faults, each on a seeded ~8% of the devices (at least one): ``rollover`` (the forward
register starts just short of 10**digits and wraps), ``exchange`` (mid-run the meter is
replaced: the old one's last reading and the new one's first share a boundary),
``spike`` (one slot of the run's last day draws four times the day's peak plus 2 kWh:
real, so in the truth), and the faults of delivery ``offline``, ``duplicates``,
``reorder``, ``clock``, ``conflict`` and ``future``, which kenshin.domain.delivery
applies when it turns registers into messages.

Two more faults make the readings themselves wrong, so that the files can only flag
them, never match the truth; they are asked for by name (``all`` leaves them out):
``stuck`` (the forward register stops for STUCK_SLOTS slots of the run's last day
while the meter consumes, in a spell where the meter drew at least STUCK_MIN_MWH in
every slot on that day and on the same weekday of each earlier week of the run; the
energy of the spell is never registered, so the register goes on from where it
stopped) and ``clock_drift`` (the unit's clock loses time steadily, from right at the
run's start to 5-25 minutes behind at its end: it takes and stamps each reading when
its own clock shows the boundary, so a reading carries the register of a later instant,
and it sends and is received later by as much; its ``sent`` times read true to it).
The truth keeps the real consumption.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from itertools import chain
from typing import NamedTuple

from kenshin.domain.model import DEFAULT_TIMEZONE, MeterSpec
from kenshin.domain.profiles import (
    FleetCalendar,
    Profile,
    day_energies,
    draw_profile,
    run_calendar,
    seeded_stream,
)
from kenshin.domain.slots import zone

FAULTS: tuple[str, ...] = (
    "offline",
    "duplicates",
    "reorder",
    "rollover",
    "exchange",
    "clock",
    "spike",
    "conflict",
    "future",
)
# Faults whose readings are wrong: named to be simulated, not part of "all".
READING_FAULTS: tuple[str, ...] = ("stuck", "clock_drift")
SPIKE_EXTRA_MWH = 2_000_000
STUCK_SLOTS = 8  # 4 hours
STUCK_MIN_MWH = 100_000  # 200 W throughout: a register that does not move is unmistakable
DRIFT_RANGE_S = (300, 1500)  # how far behind the drifting clock is at the run's end
FAULT_SHARE_PERCENT = 8

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
    """What to simulate: ``devices`` units for ``days`` local days from ``start``."""

    devices: int
    days: int
    start: date
    timezone: str = DEFAULT_TIMEZONE
    seed: int = 0
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.devices < 0:
            raise ValueError("devices must be 0 or more")
        if self.days < 1:
            raise ValueError("days must be 1 or more")
        _check_faults(self.faults)
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


def parse_faults(text: str) -> frozenset[str]:
    """Fault names from ``"offline,duplicates"`` or ``"all"``; ValueError names the choices."""
    names = frozenset(name.strip().lower() for name in text.split(",") if name.strip())
    _check_faults(names - {"all"})
    if "all" in names:
        return frozenset(FAULTS) | names - {"all"}
    return names


def _check_faults(names: frozenset[str]) -> None:
    unknown = sorted(names - set(FAULTS) - set(READING_FAULTS))
    if unknown:
        choices = ", ".join((*FAULTS, *READING_FAULTS, "all"))
        raise ValueError(f"unknown fault {', '.join(unknown)}: choose from {choices}")


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

    The faults of delivery draw on from that stream, as they always have, so they never
    change the meters or the consumption.
    """
    members = {
        name: frozenset(
            seeded_stream(f"{spec.seed}:fault:{name}").sample(range(spec.devices), _share(spec))
        )
        for name in (*FAULTS, *READING_FAULTS)
        if name in spec.faults
    }
    for index in range(spec.devices):
        faults = frozenset(name for name, chosen in members.items() if index in chosen)
        rng = seeded_stream(f"{spec.seed}:device:{index}")
        profile = draw_profile(rng)
        meters = _meters(spec.seed, cal, index, profile, faults, rng)
        spike = _spike(spec.seed, cal, profile, index) if "spike" in faults else None
        stuck = _stuck(spec.seed, cal, profile, index, spike) if "stuck" in faults else None
        drift = _drift(spec.seed, index) if "clock_drift" in faults else 0
        device = SimDevice(index, meters[0].device, profile, meters, faults, spike, stuck, drift)
        yield device, rng


def _spike(seed: int, cal: FleetCalendar, profile: Profile, index: int) -> tuple[int, int]:
    """A slot of the run's last day and the energy a spike adds there: 4 x the day's peak
    plus SPIKE_EXTRA_MWH, so that it stands out from the meter's habits."""
    last = len(cal.day_edges) - 2
    fwd, _ = day_energies(seed, cal, profile, index, last)
    rng = seeded_stream(f"{seed}:spike:{index}")
    return cal.day_edges[last] + rng.randrange(len(fwd)), 4 * max(fwd) + SPIKE_EXTRA_MWH


def _stuck(
    seed: int, cal: FleetCalendar, profile: Profile, index: int, spike: tuple[int, int] | None
) -> tuple[int, int]:
    """STUCK_SLOTS slots [first, end) of the run's last day, clear of the spike, where the
    meter drew most steadily: the spell whose smallest slot over the last day and the
    same weekday of each earlier week is the largest (at least STUCK_MIN_MWH, if the
    meter ever draws that much); the earliest such spell."""
    last = len(cal.day_edges) - 2
    count = cal.day_edges[last + 1] - cal.day_edges[last]
    weeks = [
        day_energies(seed, cal, profile, index, day)[0]
        for day in range(last, -1, -7)
        if cal.day_edges[day + 1] - cal.day_edges[day] == count
    ]
    lowest = [min(week[k] for week in weeks) for k in range(count)]
    spike_at = spike[0] - cal.day_edges[last] if spike else -1
    best, first = -1, 0
    for k in range(max(1, count - STUCK_SLOTS + 1)):
        if k <= spike_at < k + STUCK_SLOTS:
            continue
        steady = min(lowest[k : k + STUCK_SLOTS])
        if steady > best:
            best, first = steady, k
        if best >= STUCK_MIN_MWH:
            break
    start = cal.day_edges[last] + first
    return start, min(start + STUCK_SLOTS, cal.slots)


def _drift(seed: int, index: int) -> int:
    """How far behind (s) a drifting unit's clock is at the run's end."""
    return seeded_stream(f"{seed}:drift:{index}").randint(*DRIFT_RANGE_S)


def _share(spec: FleetSpec) -> int:
    return min(spec.devices, max(1, spec.devices * FAULT_SHARE_PERCENT // 100))


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
        fwd, wrap = _rollover_start(seed, cal, profile, index, spec, rng.randint(s // 8, s // 3))
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


def _rollover_start(
    seed: int, cal: FleetCalendar, profile: Profile, index: int, spec: MeterSpec, earliest: int
) -> tuple[int, int]:
    """A forward start one mWh short of wrapping, so the register wraps in slot ``wrap``."""
    total = 0
    wrap = 0
    for day in range(len(cal.day_edges) - 1):
        for energy in day_energies(seed, cal, profile, index, day)[0]:
            if wrap >= earliest and energy > 0:
                return spec.modulus * spec.resolution_mwh - total - 1, wrap
            total += energy
            wrap += 1
    return 0, wrap


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
