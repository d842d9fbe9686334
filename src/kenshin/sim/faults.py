"""The faults a simulated fleet can have, which devices have them, and where they fall.

Faults, each on a seeded ~8% of the devices (at least one): ``rollover`` (the forward
register starts just short of 10**digits and wraps), ``exchange`` (mid-run the meter is
replaced: the old one's last reading and the new one's first share a boundary),
``spike`` (one slot of the run's last day draws four times the day's peak plus 2 kWh:
real, so in the truth), and the faults of transmission ``offline``, ``duplicates``,
``reorder``, ``clock``, ``conflict`` and ``future``, which kenshin.sim.transmission
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

from kenshin.domain.model import MeterSpec
from kenshin.sim.profiles import FleetCalendar, Profile, day_energies, seeded_stream

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


def parse_faults(text: str) -> frozenset[str]:
    """Fault names from ``"offline,duplicates"`` or ``"all"``; ValueError names the choices."""
    names = frozenset(name.strip().lower() for name in text.split(",") if name.strip())
    check_faults(names - {"all"})
    if "all" in names:
        return frozenset(FAULTS) | names - {"all"}
    return names


def check_faults(names: frozenset[str]) -> None:
    unknown = sorted(names - set(FAULTS) - set(READING_FAULTS))
    if unknown:
        choices = ", ".join((*FAULTS, *READING_FAULTS, "all"))
        raise ValueError(f"unknown fault {', '.join(unknown)}: choose from {choices}")


def spike_slot(seed: int, cal: FleetCalendar, profile: Profile, index: int) -> tuple[int, int]:
    """A slot of the run's last day and the energy a spike adds there: 4 x the day's peak
    plus SPIKE_EXTRA_MWH, so that it stands out from the meter's habits."""
    last = len(cal.day_edges) - 2
    fwd, _ = day_energies(seed, cal, profile, index, last)
    rng = seeded_stream(f"{seed}:spike:{index}")
    return cal.day_edges[last] + rng.randrange(len(fwd)), 4 * max(fwd) + SPIKE_EXTRA_MWH


def stuck_spell(
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


def drift_behind_s(seed: int, index: int) -> int:
    """How far behind (s) a drifting unit's clock is at the run's end."""
    return seeded_stream(f"{seed}:drift:{index}").randint(*DRIFT_RANGE_S)


def faulty_devices(seed: int, devices: int, faults: frozenset[str]) -> dict[str, frozenset[int]]:
    """For each fault of ``faults``, the indices of the devices that have it: a seeded
    FAULT_SHARE_PERCENT of ``devices``, at least one."""
    share = min(devices, max(1, devices * FAULT_SHARE_PERCENT // 100))
    return {
        name: frozenset(seeded_stream(f"{seed}:fault:{name}").sample(range(devices), share))
        for name in (*FAULTS, *READING_FAULTS)
        if name in faults
    }


def rollover_start(
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
