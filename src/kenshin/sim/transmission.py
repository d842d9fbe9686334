"""How a simulated fleet's readings reach the server: messages, faults of transmission,
arrival order.

The faults of transmission, on the devices kenshin.sim.faults picks for them: ``offline``
(spells of 3-8 h without messages, then the backlog in one message), ``duplicates`` (a
message delivered twice, identical), ``reorder`` (2-5 h of messages held and delivered
shuffled), ``clock`` (the unit's clock, hence ``sent``, is 3-20 minutes off; readings stay
on boundaries), ``conflict`` (one message comes again an hour later, sent then, with its readings'
forward registers 7 steps higher) and ``future`` (one reading is dated FUTURE_DAYS later
than it was taken, so the server quarantines it and its boundary has no reading). A
``clock_drift`` unit reads, sends and is received late by its clock's lag.
``fleet_faults`` lists where each fault of a run falls. A unit given a reporting offset
(``FleetSpec.spread_s``) sends each boundary's message at that offset past it.

Arrival order is exact, and memory stays bounded: all devices advance together a block of
boundaries at a time (``held`` messages in all), and a message is released once nothing
sent later can arrive before it. Ties in arrival go by device, boundary, then copy.
"""

from __future__ import annotations

import json
import math
import random
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

from kenshin.domain.energy import UNIT_LABEL
from kenshin.domain.slots import SLOT_SECONDS
from kenshin.domain.spread import report_offset_s
from kenshin.sim.fleet import (
    FleetSpec,
    Registers,
    SimDevice,
    SimMeter,
    device_registers,
    fleet_calendar,
    fleet_devices,
)
from kenshin.sim.profiles import FleetCalendar, seeded_stream

HELD_MESSAGES = 50_000
FUTURE_DAYS = 400
CONFLICT_STEPS = 7
CONFLICT_DELAY_S = 3600  # the changed copy of a message is sent an hour after it

Message = dict[str, Any]

_T = TypeVar("_T")
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


@dataclass(frozen=True, slots=True)
class _Plan:
    device: SimDevice
    silent: frozenset[int]
    held: dict[int, int]
    duplicates: frozenset[int]
    clock_s: int
    seq: int
    conflict: int = -1  # the boundary whose message comes again, changed
    future: int = -1  # the boundary whose reading is dated in the future
    offset_s: int | None = None  # when it sends, past each boundary (None: 2-30 s after)


def fleet_messages(spec: FleetSpec, held: int = HELD_MESSAGES) -> Iterator[Message]:
    """Every message of the fleet, in order of arrival at the server, faults applied.

    ``held`` bounds the messages kept back for ordering: more is faster, less uses less memory.
    """
    return (message for _, message in _arrivals(spec, _same, held))


def fleet_lines(spec: FleetSpec, held: int = HELD_MESSAGES) -> Iterator[tuple[str, int]]:
    """Every message as compact JSON text, with its number of readings, in order of arrival."""
    # Text is never scanned by the garbage collector, which a fleet's held dicts would be.
    return (line for _, line in _arrivals(spec, _line, held))


def fleet_arrivals(spec: FleetSpec, held: int = HELD_MESSAGES) -> Iterator[tuple[int, str]]:
    """Every message as compact JSON text with the instant it arrives (UTC epoch s), in
    order of arrival: what a server listening live would receive, and when."""
    return ((arrival, line) for arrival, (line, _) in _arrivals(spec, _line, held))


def _same(message: Message) -> Message:
    return message


def _line(message: Message) -> tuple[str, int]:
    return _encode(message), sum(len(block["readings"]) for block in message["meters"])


def _arrivals(
    spec: FleetSpec, finish: Callable[[Message], _T], held: int
) -> Iterator[tuple[int, _T]]:
    """The fleet's deliveries, each passed through ``finish``, with their arrival instants,
    in order of arrival."""
    cal = fleet_calendar(spec)
    devices = [
        _device_sends(spec.seed, cal, _plan(spec, cal, device, rng))
        for device, rng in fleet_devices(spec, cal)
    ]
    # Advancing each device several boundaries at a time keeps its state in the CPU cache.
    step = max(1, min(cal.slots + 1, held // max(1, spec.devices)))
    pending: list[tuple[int, int, int, int, _T]] = []
    for first in range(0, cal.slots + 1, step):
        for index, device in enumerate(devices):
            for j, sends in enumerate(islice(device, step), first):
                pending.extend(
                    (arrival, index, j, k, finish(m)) for k, (arrival, m) in enumerate(sends)
                )
        pending.sort(key=itemgetter(0, 1, 2, 3))
        # Whatever is sent at a later boundary arrives after that boundary.
        end = first + step
        later = cal.boundaries[end] if end <= cal.slots else math.inf
        ready = bisect_left(pending, later, key=itemgetter(0))
        yield from ((item[0], item[-1]) for item in pending[:ready])
        del pending[:ready]


def fleet_faults(spec: FleetSpec) -> Iterator[tuple[str, str, int]]:
    """(device, fault, instant) of the run's ``conflict`` and ``future`` faults, the
    ``spike`` fault's slot start, the ``exchange`` boundary, the first slot start of a
    ``stuck`` spell and the run's start for ``clock_drift`` (drifting from there), in
    device order: where a checker should find each fault (UTC epoch s)."""
    cal = fleet_calendar(spec)
    for device, rng in fleet_devices(spec, cal):
        plan = _plan(spec, cal, device, rng)
        found = [("conflict", plan.conflict), ("future", plan.future)]
        if device.spike is not None:
            found.append(("spike", device.spike[0]))
        if len(device.meters) > 1:
            found.append(("exchange", device.meters[-1].first))
        if device.stuck is not None:
            found.append(("stuck", device.stuck[0]))
        if device.drift_s:
            found.append(("clock_drift", 0))
        for fault, j in found:
            if j >= 0:
                yield device.id, fault, cal.boundaries[j]


def _plan(spec: FleetSpec, cal: FleetCalendar, device: SimDevice, rng: random.Random) -> _Plan:
    """The device's faults of transmission, drawn on from its stream in a fixed order."""
    faults = device.faults
    s = cal.slots
    taken: list[tuple[int, int]] = []
    offline = _spells(rng, s, max(1, spec.days // 5), (6, 16), taken) if "offline" in faults else ()
    reorder = _spells(rng, s, max(1, spec.days // 4), (4, 10), taken) if "reorder" in faults else ()
    silent = frozenset(j for a, b in offline for j in range(a, b))
    sent = [j for j in range(s + 1) if j not in silent]
    twice = rng.sample(sent, max(1, s // 40)) if "duplicates" in faults else []
    clock_s = rng.choice((-1, 1)) * (rng.randint(3, 20) * 60 + rng.randrange(60))
    plan = _Plan(
        device,
        silent,
        _held(rng, cal, reorder),
        frozenset(twice),
        clock_s if "clock" in faults else 0,
        rng.randrange(1, 50_000),
    )
    # Faults added later draw on streams of their own: the ones above stay as they were.
    own = seeded_stream(f"{spec.seed}:delivery:{device.index}")  # the stream's name stays
    first, end = device.stuck or (-1, -2)  # a stuck spell keeps every reading of its run
    inner = [
        j for j in sent if 0 < j < s and j != device.meters[-1].first and not first <= j <= end
    ]
    conflict = own.choice(inner) if "conflict" in faults and inner else -1
    future = own.choice(inner) if "future" in faults and inner else -1
    offset = None if spec.spread_s is None else report_offset_s(device.id, spec.spread_s)
    return replace(plan, conflict=conflict, future=future, offset_s=offset)


def _spells(
    rng: random.Random,
    slots: int,
    count: int,
    lengths: tuple[int, int],
    taken: list[tuple[int, int]],
) -> tuple[tuple[int, int], ...]:
    """Up to ``count`` boundary ranges [a, b) clear of (and added to) ``taken``."""
    found: list[tuple[int, int]] = []
    for _ in range(50 * count):
        length = rng.randint(*lengths)
        a = rng.randrange(1, slots - length + 1)
        if all(a + length < lo or hi < a for lo, hi in taken):
            taken.append((a, a + length))
            found.append((a, a + length))
            if len(found) == count:
                break
    return tuple(sorted(found))


def _held(
    rng: random.Random, cal: FleetCalendar, spells: Iterable[tuple[int, int]]
) -> dict[int, int]:
    """Arrival instants of reordered messages: held to the spell's end, then shuffled."""
    held: dict[int, int] = {}
    for a, b in spells:
        order = list(range(a, b))
        while order == sorted(order):
            rng.shuffle(order)
        for position, j in enumerate(order):
            held[j] = cal.boundaries[b] + 40 + 10 * position
    return held


def _device_sends(
    seed: int, cal: FleetCalendar, plan: _Plan
) -> Iterator[tuple[tuple[int, Message], ...]]:
    """For each boundary, the (arrival instant, message) deliveries of one device."""
    key = (seed << 24) + plan.device.index
    seq = plan.seq
    headers = [_header(meter) for meter in plan.device.meters]
    moduli = [meter.spec.modulus for meter in plan.device.meters]
    backlog: list[tuple[int, Registers]] = []
    read = device_registers(seed, cal, plan.device, reported=True)
    if plan.device.drift_s:
        read = _lagging(read, plan.device, cal.slots)
    for j, registers in read:
        backlog.append((j, registers))
        if j in plan.silent:
            yield ()
            continue
        delay = _delay(plan.offset_s, _jitter(key, j))
        message = {
            "v": 1,
            "device": plan.device.id,
            "seq": seq,
            "sent": _sent_text(cal, j, delay, plan.clock_s),
            "meters": _meter_blocks(cal, headers, moduli, backlog, plan.future),
        }
        backlog = []
        seq += 1
        arrival = plan.held.get(j, cal.boundaries[j] + plan.device.lag_s(j, cal.slots) + delay)
        if j in plan.duplicates:
            yield (arrival, message), (arrival + 5 + _jitter(key, -j) % 56, message)
        elif j == plan.conflict:
            by_id = {m.id: m.spec.modulus for m in plan.device.meters}
            again = cal.boundaries[j] + delay + CONFLICT_DELAY_S + plan.clock_s
            changed = _changed(message, by_id, datetime.fromtimestamp(again, cal.tz).isoformat())
            yield (arrival, message), (arrival + CONFLICT_DELAY_S, changed)
        else:
            yield ((arrival, message),)


def _delay(offset_s: int | None, jitter: int) -> int:
    """Seconds from a boundary to the unit's sending: at its offset if it was given one
    (and 0-4 s of radio), else 2-30 s (all units just after :00 and :30)."""
    return 2 + jitter % 29 if offset_s is None else offset_s + jitter % 5


def _lagging(
    registers: Iterator[tuple[int, Registers]], device: SimDevice, slots: int
) -> Iterator[tuple[int, Registers]]:
    """The registers a unit whose clock lags reads when its clock shows each boundary: those
    of ``lag_s`` later, between the boundary's and the next one's (under half an hour
    late); the run's last boundary as it is."""
    previous: tuple[int, Registers] | None = None
    for here in registers:
        if previous is not None:
            yield _later(previous, here[1], device.lag_s(previous[0], slots))
        previous = here
    if previous is not None:
        yield previous


def _later(here: tuple[int, Registers], after: Registers, lag: int) -> tuple[int, Registers]:
    """The registers of boundary ``here`` moved ``lag`` seconds towards ``after``'s."""
    j, registers = here
    following = {position: (fwd, rev) for position, fwd, rev in after}
    moved = []
    for position, fwd, rev in registers:
        if position in following:
            next_fwd, next_rev = following[position]
            fwd += (next_fwd - fwd) * lag // SLOT_SECONDS
            rev += (next_rev - rev) * lag // SLOT_SECONDS
        moved.append((position, fwd, rev))
    return j, tuple(moved)


def _jitter(key: int, j: int) -> int:
    """A repeatable pseudo-random 32-bit number for (key, j), with no generator state to keep."""
    # A Random per device would keep 2.5 kB of state live for each of thousands of devices.
    x = (key * 0x9E3779B97F4A7C15 + j * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (x ^ (x >> 31)) >> 32


def _header(meter: SimMeter) -> dict[str, Any]:
    spec = meter.spec
    return {
        "meter": meter.id,
        "unit": UNIT_LABEL[spec.unit_mwh],
        "coefficient": spec.coefficient,
        "digits": spec.digits,
    }


def _sent_text(cal: FleetCalendar, j: int, delay: int, clock_s: int) -> str:
    """The unit's own time of sending, ``delay`` seconds after boundary ``j``, as it reads it."""
    if clock_s or delay >= 60:
        return datetime.fromtimestamp(cal.boundaries[j] + delay + clock_s, cal.tz).isoformat()
    # A boundary's local text ends in ":00+HH:MM"; under a minute later only the seconds change.
    text = cal.local_iso[j]
    return f"{text[:17]}{delay:02d}{text[19:]}"


def _changed(message: Message, moduli: dict[str, int], sent: str) -> Message:
    """The message again, sent at ``sent``, each meter's latest forward register
    CONFLICT_STEPS higher."""
    blocks = []
    for block in message["meters"]:
        *before, last = block["readings"]
        changed = {**last, "fwd": (last["fwd"] + CONFLICT_STEPS) % moduli[block["meter"]]}
        blocks.append({**block, "readings": [*before, changed]})
    return {**message, "sent": sent, "meters": blocks}


def _meter_blocks(
    cal: FleetCalendar,
    headers: list[dict[str, Any]],
    moduli: list[int],
    backlog: list[tuple[int, Registers]],
    future: int = -1,
) -> list[dict[str, Any]]:
    """The message's meter blocks: each meter's readings of the backlog, in time order;
    the reading of boundary ``future`` dated FUTURE_DAYS later."""
    readings: list[list[dict[str, Any]]] = [[] for _ in headers]
    for j, registers in backlog:
        t = cal.local_iso[j]
        if j == future:
            t = datetime.fromtimestamp(cal.boundaries[j] + FUTURE_DAYS * 86_400, cal.tz).isoformat()
        for position, fwd, rev in registers:
            modulus = moduli[position]
            readings[position].append({"t": t, "fwd": fwd % modulus, "rev": rev % modulus})
    return [
        {**header, "readings": found}
        for header, found in zip(headers, readings, strict=True)
        if found
    ]
