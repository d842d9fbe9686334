"""Closed-loop gap recovery: a unit whose meters have holes in their readings is asked
to send them again (the ``resend`` command), with a growing wait between attempts.
Its settings are ``[recovery]`` of the config file (``kenshin.config.RecoveryConfig``).

A hole is a half-hour boundary without a reading, in the last ``lookback_hours`` and
ended at least ``settle_minutes`` ago, between two boundaries that have one: the unit
has reported since, so the reading is not merely on its way in a backlog, and the
meter was reporting before (a meter fitted yesterday has no hole before it). Each device is
asked for the range from its meters' first hole to their last. Attempts are the
store's resend commands: a device asked ``n`` times for an overlapping range waits
``first_wait_minutes`` x 2^(n-1) before the next, and after ``max_attempts`` it is
not asked again; what never comes back stays estimated or N in the files.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kenshin.config import RecoveryConfig
from kenshin.domain.commands import RESEND, resend_payload, resend_range
from kenshin.domain.devices import Command
from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import Customer, Meter
from kenshin.domain.slots import SLOT_SECONDS, day_slots, local_day, zone
from kenshin.ports import CommandQueue, Readings, Registry

log = logging.getLogger(__name__)

CHUNK = 20_000  # meters read at once


@dataclass(frozen=True)
class ResendAsked:
    """A resend command queued for a device: the range and which attempt it is."""

    device: str
    start: int
    end: int
    attempt: int
    command_id: int


class RecoveryPorts(Protocol):
    """What asking for gaps reads and queues: customers' meters, their readings, resend
    commands. A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def readings(self) -> Readings:
        """Register readings and their conflicts."""

    @property
    def commands(self) -> CommandQueue:
        """The commands queued for devices."""


def ask_for_gaps(store: RecoveryPorts, settings: RecoveryConfig, *, now: int) -> list[ResendAsked]:
    """Queue a resend command for every device with holes that is due another attempt."""
    if not settings.enabled:
        return []
    since = now - settings.lookback_hours * 3600
    earlier: dict[str, list[Command]] = defaultdict(list)
    for command in store.commands.commands_named(RESEND, since):
        earlier[command.device].append(command)
    asked = []
    for customer in store.registry.list_customers():
        for device, (start, end) in _holes(store, customer, settings, now).items():
            tries = [c for c in earlier[device] if _overlaps(c, start, end)]
            if not _due(tries, settings, now):
                continue
            command_id = store.commands.add_command(device, RESEND, _payload(start, end), now)
            asked.append(ResendAsked(device, start, end, len(tries) + 1, command_id))
    if asked:
        log.info("asked %d units to resend the readings their meters lack", len(asked))
    return asked


def _holes(
    store: RecoveryPorts, customer: Customer, settings: RecoveryConfig, now: int
) -> dict[str, tuple[int, int]]:
    """Per device of the customer, the range of its meters' holes (first to last)."""
    tz = zone(customer.timezone)
    phase = day_slots(local_day(now, tz), tz).start % SLOT_SECONDS  # the zone's half hours
    first = _on_grid(now - settings.lookback_hours * 3600, phase)
    last = _on_grid(now - settings.settle_minutes * 60, phase)
    count = (last - first) // SLOT_SECONDS
    ranges: dict[str, tuple[int, int]] = {}
    if count <= 0:
        return ranges
    meters = [m for m in store.registry.list_meters(customer.id) if m.device]
    for lo in range(0, len(meters), CHUNK):
        chunk = meters[lo : lo + CHUNK]
        fwd, rev = store.readings.boundary_registers([m.id for m in chunk], first, count)
        for meter, (hole_lo, hole_hi) in _meter_holes(
            chunk, (fwd != NO_REGISTER) | (rev != NO_REGISTER)
        ):
            start, end = first + hole_lo * SLOT_SECONDS, first + hole_hi * SLOT_SECONDS
            device = str(meter.device)
            known = ranges.get(device)
            ranges[device] = (
                (start, end) if known is None else (min(known[0], start), max(known[1], end))
            )
    return ranges


def _meter_holes(meters: Sequence[Meter], known: np.ndarray) -> list[tuple[Meter, tuple[int, int]]]:
    """Each meter with holes: the boundary indices of its first and last hole."""
    width = known.shape[1]
    index = np.arange(width)
    first_known = np.where(known, index, width).min(axis=1)
    last_known = np.where(known, index, -1).max(axis=1)
    holes = ~known & (index > first_known[:, None]) & (index < last_known[:, None])
    found = []
    for row in np.flatnonzero(holes.any(axis=1)).tolist():
        where = np.flatnonzero(holes[row])
        found.append((meters[row], (int(where[0]), int(where[-1]))))
    return found


def _payload(start: int, end: int) -> Callable[[int], bytes]:
    return lambda command_id: resend_payload(command_id, start, end)


def _on_grid(t: int, phase: int) -> int:
    return (t - phase) // SLOT_SECONDS * SLOT_SECONDS + phase


def _overlaps(command: Command, start: int, end: int) -> bool:
    asked = resend_range(command.payload)
    return asked is not None and asked[0] <= end and start <= asked[1]


def _due(tries: list[Command], settings: RecoveryConfig, now: int) -> bool:
    if len(tries) >= settings.max_attempts:
        return False
    if not tries:
        return True
    wait = settings.first_wait_minutes * 60 * 2 ** (len(tries) - 1)
    return bool(now - max(c.created_at for c in tries) >= wait)
