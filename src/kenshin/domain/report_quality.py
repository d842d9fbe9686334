"""The data-quality report's content and its arithmetic: per meter, the slots missing,
estimated or questionable and the rules that fired; per customer, its silent units; the
day's dead letters grouped by sender. Pure functions over what the store gave (the day's
registers, VEE's outcome), so that the counting is testable without a store; the
service ``services.report`` loads them and puts the report together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from kenshin.domain.daytable import day_table
from kenshin.domain.intervals import NO_REGISTER, NO_VALUE, Registers
from kenshin.domain.model import Customer, DeadLetter, Meter, SecurityEvent
from kenshin.domain.report_spread import ArrivalSpread
from kenshin.domain.slots import SLOT_SECONDS, DaySlots
from kenshin.domain.vee import ESTIMATED, QUESTIONABLE, RULE_NAMES, Rule, VeeDay

SECONDS_PER_HOUR = 3600
_E, _Q, _N = (ord(f) for f in (ESTIMATED, QUESTIONABLE, NO_VALUE))
Mask = npt.NDArray[np.bool_]

# The kind of a slot that several rules fired on is the first of these: what explains it.
KINDS = (
    "future",
    "negative",
    "conflict",
    "clock",
    "missing",
    "sum",
    "spike",
    "high",
    "stuck",
    "zero_run",
    "low",
)


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """What a unit last reported of itself: firmware, signal (RSRP, dBm), when last seen."""

    device: str
    customer: str
    firmware: str | None = None
    rsrp_dbm: float | None = None
    last_seen: int | None = None  # UTC epoch s


@dataclass(frozen=True, slots=True)
class MeterQuality:
    """A meter's day: slots without a measured value (``missing``; ``estimated`` of them
    were filled), ``questionable`` measured slots, and the slots each rule fired on and
    each kind of failure holds. A slot counts once per meter, whichever rows show it.
    ``first_missing`` and ``missing_from`` (a gap that lasts to the day's end) are slot
    indices; ``last_reading`` is the meter's last reading of the day (UTC epoch s)."""

    meter: str
    device: str
    missing: int
    estimated: int
    questionable: int
    rules: Mapping[str, int]
    kinds: Mapping[str, int]
    first_missing: int | None = None
    missing_from: int | None = None
    last_reading: int | None = None


@dataclass(frozen=True, slots=True)
class NotCollected:
    """A final daily file its customer had not collected when it was due (UTC epoch s),
    and when it collected it after all, if it did by the report's time."""

    day: str
    file_name: str
    revision: int
    due_at: int
    collected_at: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """The day's dead letters of one sender: a device (None where no device is named),
    how many, the reason of the last and when it came (UTC epoch s), and whether the
    device is registered (an unknown device is not)."""

    device: str | None
    count: int
    reason: str
    last_at: int
    registered: bool = True


@dataclass(frozen=True)
class CustomerQuality:
    """One customer's day: its slot labels, how many meters it has, the meters with a
    problem, its silent units (with their last reading of the day), files not collected
    in time (some collected late)."""

    customer: Customer
    labels: tuple[str, ...]
    meters: int
    problems: tuple[MeterQuality, ...]
    silent: Mapping[str, int | None] = field(default_factory=dict)
    not_collected: tuple[NotCollected, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        """The customer's time zone."""
        return ZoneInfo(self.customer.timezone)

    def total(self, what: str) -> int:
        """The sum of ``missing``, ``estimated`` or ``questionable`` over its meters."""
        return sum(int(getattr(m, what)) for m in self.problems)

    @property
    def uncollected(self) -> tuple[NotCollected, ...]:
        """Its files still not collected."""
        return tuple(f for f in self.not_collected if f.collected_at is None)


@dataclass(frozen=True)
class DailyReport:
    """The report of local ``day``, made at ``made_at`` (UTC epoch s) in ``timezone``.
    ``security`` is None where the day's security events are not known; ``dead_letters``
    are the day's, one group per sender, most first (``dead_letter_total`` counts every
    one, where the groups were made of fewer)."""

    day: date
    made_at: int
    timezone: str
    customers: tuple[CustomerQuality, ...]
    units: Mapping[str, UnitInfo] = field(default_factory=dict)
    security: tuple[SecurityEvent, ...] | None = ()
    dead_letters: tuple[DeadLetters, ...] = ()
    dead_letter_total: int | None = None
    arrivals: ArrivalSpread | None = None  # when the day's messages were sent

    def totals(self) -> Totals:
        """The headline counts."""
        cs = self.customers
        return Totals(
            customers=len(cs),
            meters=sum(c.meters for c in cs),
            meters_with_problems=sum(len(c.problems) for c in cs),
            missing=sum(c.total("missing") for c in cs),
            estimated=sum(c.total("estimated") for c in cs),
            questionable=sum(c.total("questionable") for c in cs),
            silent_units=sum(len(c.silent) for c in cs),
            not_collected=sum(len(c.uncollected) for c in cs),
            security_events=None if self.security is None else len(self.security),
            collected_late=sum(len(c.not_collected) - len(c.uncollected) for c in cs),
            dead_letters=(
                sum(g.count for g in self.dead_letters)
                if self.dead_letter_total is None
                else self.dead_letter_total
            ),
            unknown_devices=sum(1 for g in self.dead_letters if not g.registered),
        )


@dataclass(frozen=True, slots=True)
class Totals:
    """The report's headline: counts over every customer."""

    customers: int
    meters: int
    meters_with_problems: int
    missing: int
    estimated: int
    questionable: int
    silent_units: int
    not_collected: int
    security_events: int | None
    collected_late: int = 0
    dead_letters: int = 0
    unknown_devices: int = 0


def group_dead_letters(
    letters: Iterable[DeadLetter], registered: set[str]
) -> tuple[DeadLetters, ...]:
    """One group per sender, most letters first: the last reason and when it came."""
    groups: dict[str | None, DeadLetters] = {}
    for d in sorted(letters, key=lambda d: d.received_at):
        count = groups[d.device].count + 1 if d.device in groups else 1
        known = d.device is None or d.device in registered
        groups[d.device] = DeadLetters(d.device, count, d.reason, d.received_at, known)
    return tuple(sorted(groups.values(), key=lambda g: (-g.count, g.device or "")))


def silent_units(
    heard: Mapping[str, int | None], day_end: int, now: int, silent_hours: int
) -> dict[str, int | None]:
    """The units (with their last reading of the day, if any) heard of last
    ``silent_hours`` or more before the day's end, or ``now`` if that is earlier."""
    quiet_after = min(day_end, now) - silent_hours * SECONDS_PER_HOUR
    return {d: t for d, t in heard.items() if t is None or t <= quiet_after}


def heard_later(
    heard: Mapping[str, int | None], meters: Sequence[Meter], last: Sequence[int | None]
) -> dict[str, int | None]:
    """``heard`` (each unit's last reading, None: none yet) moved on by its meters'
    ``last`` readings (in ``meters`` order)."""
    later = dict(heard)
    for meter, t in zip(meters, last, strict=True):
        if t is not None and (later.get(meter.device) or 0) < t:
            later[meter.device] = t
    return later


def day_events(
    events: Sequence[SecurityEvent] | None, start: int, end: int
) -> tuple[SecurityEvent, ...] | None:
    """The events from ``start`` to before ``end``, in order; None where not known."""
    if events is None:
        return None
    return tuple(sorted((e for e in events if start <= e.at < end), key=lambda e: e.at))


def gaps_only(
    meters: list[Meter], grid: tuple[Registers, Registers], max_demand_w: int, due: int
) -> VeeDay:
    """The meters' day with its gaps alone found (slots before ``due`` without a value),
    as a file without VEE shows them."""
    table = day_table(meters, *grid, max_demand_w)
    gaps = (table.flags == _N) & (np.arange(table.flags.shape[1]) < due)
    zeros = np.zeros(table.flags.shape, np.uint8)
    bits = (gaps * np.uint16(Rule.MISSING)).astype(np.uint16)
    return VeeDay(table.meters, table.directions, table.values, table.flags, zeros, bits)


def meter_qualities(
    meters: Sequence[Meter],
    full: VeeDay,
    shown_flags: npt.NDArray[np.uint8],
    due: int,
    last: Sequence[int | None],
    service: Mask | None = None,
) -> list[MeterQuality]:
    """The meters of ``full`` (in ``meters`` order, one or two rows each) that have a
    slot missing, estimated in the file (``shown_flags``) or questionable, or a rule
    that fired; a slot counts once per meter, and only while its meter is in service
    (``service``, per row of ``full``; default: all day)."""
    if not meters:
        return []
    names = np.array(full.meters)
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    done = np.arange(full.flags.shape[1]) < due
    if service is not None:
        done = done & service
    holes = ((full.flags == _E) | (full.flags == _N)) & done
    fired = full.rules if service is None else np.where(service, full.rules, np.uint16(0))
    bits = np.bitwise_or.reduceat(fired | (holes * np.uint16(Rule.MISSING)), starts, axis=0)
    missing = (bits & np.uint16(Rule.MISSING)) != 0
    estimated = np.logical_or.reduceat(shown_flags == _E, starts, axis=0)
    questionable = np.logical_or.reduceat(full.flags == _Q, starts, axis=0)
    rules = {n: ((bits & np.uint16(r)) != 0).sum(axis=1) for n, r in RULE_NAMES.items()}
    kinds = _kinds(bits)
    found = []
    for i in np.flatnonzero(bits.any(axis=1) | estimated.any(axis=1) | questionable.any(axis=1)):
        meter = meters[int(i)]
        gaps = missing[i]
        found.append(
            MeterQuality(
                meter.id,
                meter.device,
                int(gaps.sum()),
                int(estimated[i].sum()),
                int(questionable[i].sum()),
                {n: int(c[i]) for n, c in rules.items() if c[i]},
                {k: int(c[i]) for k, c in kinds.items() if c[i]},
                int(np.argmax(gaps)) if gaps.any() else None,
                _trailing(gaps[:due]),
                last[int(i)],
            )
        )
    return found


def _kinds(bits: npt.NDArray[np.uint16]) -> dict[str, npt.NDArray[np.int64]]:
    """Per meter, the slots of each kind: a slot is of the first kind in KINDS it has."""
    taken = np.zeros(bits.shape, np.bool_)
    counts = {}
    for kind in KINDS:
        hit = ((bits & np.uint16(RULE_NAMES[kind])) != 0) & ~taken
        taken |= hit
        counts[kind] = hit.sum(axis=1)
    return counts


def _trailing(gaps: Mask) -> int | None:
    """The first slot of a gap that lasts to the end, or None if the last slot is not one."""
    if not gaps.size or not gaps[-1]:
        return None
    read = np.flatnonzero(~gaps)
    return int(read[-1]) + 1 if read.size else 0


def last_readings(fwd: Registers, rev: Registers, slots: DaySlots) -> list[int | None]:
    """Each meter's last reading of the day (UTC epoch s, boundaries included), or None."""
    known = (fwd != NO_REGISTER) | (rev != NO_REGISTER)
    last = known.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
    return [
        slots.start + int(j) * SLOT_SECONDS if any_ else None
        for j, any_ in zip(last, known.any(axis=1), strict=True)
    ]
