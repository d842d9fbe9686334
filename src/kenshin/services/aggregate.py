"""A customer's day of slot energies, read from the store and put through VEE.

Meters go in chunks of ``AGGREGATE_CHUNK``; the next chunk is read in a thread
while this one is computed (SQLite and numpy let go of the GIL, so on two cores
both run), in parts of ``COMPUTE_CHUNK`` meters. With VEE settings, each chunk is
also read on the same local weekday of the previous weeks (its like days), and
``domain.vee`` validates every slot, estimates the gaps and flags each slot A, E,
Q or N.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kenshin.domain.daytable import DayTable, concat, day_table
from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W
from kenshin.domain.intervals import Registers
from kenshin.domain.lifecycle import serves, slots_in_service
from kenshin.domain.model import Customer, Meter, Watermark
from kenshin.domain.slots import SLOT_SECONDS, DaySlots, day_slots, standard_day_slots, zone
from kenshin.domain.vee import (
    DayGrid,
    DriftSpell,
    Rule,
    VeeDay,
    VeeSettings,
    beyond_vee,
    drifting_slots,
    grid_of,
    like_days_of,
    validate_day,
)
from kenshin.errors import ExportError
from kenshin.ports import ReadingDays, Readings, Registry, UnitClocks

log = logging.getLogger(__name__)

AGGREGATE_CHUNK = 20_000  # meters read at once: bounds memory
# Meters computed at once: a part of a chunk whose arrays stay in the processor's cache
# (a chunk of 10,000 took 12 % more CPU, measured in docs/benchmarks.md).
COMPUTE_CHUNK = 2500
Grids = list[tuple[Registers, Registers]]  # the day's registers, then each like day's
Conflicts = list[tuple[str, int]]  # (meter, t) of conflicting readings


class DayPorts(Protocol):
    """What a customer's day is read from: its meters, their readings, the units' clocks.
    A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def readings(self) -> Readings:
        """Register readings and their conflicts."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """The units' clock drift spells."""


def aggregate_day(  # noqa: PLR0913 - the last three are keywords: when, as of, marks
    store: DayPorts,
    customer: Customer,
    slots: DaySlots,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
    vee: VeeSettings | None = None,
    *,
    now: int | None = None,
    as_of: Watermark | None = None,
    drift: Sequence[DriftSpell] | None = None,
    meters: Sequence[Meter] | None = None,
) -> DayTable:
    """Slot energies of every meter of the customer over ``slots``, meters in id order:
    through VEE with ``vee`` settings, else as measured (A or N). Only the slots ended
    by ``now`` (default: all) can be missing or estimated. The store is read ``as_of``
    a watermark (default: as it is); ``drift`` gives the units' clock drift spells
    (default: those the store holds now, when the rule runs), ``meters`` the customer's
    meters (default: those the store lists). A meter out of service all day has no row."""
    listed = store.registry.list_meters(customer.id, as_of=as_of) if meters is None else meters
    meters = serving(listed, slots)
    chunks = [meters[lo : lo + AGGREGATE_CHUNK] for lo in range(0, len(meters), AGGREGATE_CHUNK)]
    days = [slots] if vee is None else [slots, *like_days(customer, slots, vee.like_day_weeks)]
    due, shown = due_slots(slots, now), shown_mwh(customer)
    if drift is None:
        drift = drift_spells(store.unit_clocks, slots, vee)

    def read(chunk: list[Meter]) -> tuple[Grids, Conflicts]:
        return read_chunk(store, [m.id for m in chunk], days, vee, as_of)

    tables = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenshin-read") as pool:
        pending = [pool.submit(read, chunk) for chunk in chunks[:1]]
        for number, chunk in enumerate(chunks):
            grids, conflicts = pending.pop().result()
            if number + 1 < len(chunks):  # one chunk ahead: memory stays bounded
                pending.append(pool.submit(read, chunks[number + 1]))
            for fwd, rev in grids:
                _check_shape(fwd, rev, len(chunk), slots.count + 1)
            marks = Marks(slots.start, conflicts, drift)
            tables.append(_table(chunk, grids, max_demand_w, vee, due, shown, marks))
    return concat(tables, slots.count)


def read_chunk(
    store: DayPorts,
    ids: list[str],
    days: list[DaySlots],
    vee: VeeSettings | None,
    as_of: Watermark | None,
) -> tuple[Grids, Conflicts]:
    """The registers of the meters ``ids`` on ``days`` (the day, then its like days, of
    as many slots), and the day's conflicts if the conflict rule runs."""
    readings, slots = store.readings, days[0]
    if isinstance(readings, ReadingDays):  # one read of every day
        grids = readings.boundary_registers_of_days(
            ids, [d.start for d in days], slots.count, as_of
        )
    else:
        grids = [readings.boundary_registers(ids, day.start, day.count, as_of) for day in days]
    wanted = vee is not None and vee.enabled(Rule.CONFLICT)
    found = readings.conflicts_between(ids, slots.start, slots.end, as_of) if wanted else []
    return grids, found


def serving(meters: Sequence[Meter], slots: DaySlots) -> list[Meter]:
    """The meters that serve the day (``serves_day``); one without a time in service
    serves every day, and is not asked."""
    whole_day = serves((None, None), slots.start, slots.end)
    return [
        m
        for m in meters
        if (whole_day if m.installed_at is None and m.removed_at is None else serves_day(m, slots))
    ]


def serves_day(meter: Meter, slots: DaySlots) -> bool:
    """Whether the meter was in service for a whole slot of the day (the in-service mask's
    rule): a meter that serves none has no row."""
    return serves((meter.installed_at, meter.removed_at), slots.start, slots.end)


def drift_spells(
    clocks: UnitClocks,
    slots: DaySlots,
    vee: VeeSettings | None,
    devices: Sequence[str] | None = None,
) -> list[DriftSpell]:
    """The units' clock drift spells over ``slots`` (of ``devices`` if given), if the
    clock rule runs."""
    if vee is None or not vee.enabled(Rule.CLOCK):
        return []
    return clocks.drift_spells(slots.start, slots.end, devices)


def like_days(customer: Customer, slots: DaySlots, weeks: int) -> list[DaySlots]:
    """The same local weekday 1..``weeks`` weeks before, those with as many slots as
    ``slots`` (a week across a DST change has another count and is left out)."""
    tz = zone(customer.timezone)
    # Days of the same kind: local days, or standard-time days (NEM12).
    kind = day_slots if slots == day_slots(slots.day, tz) else standard_day_slots
    before = (kind(slots.day - timedelta(weeks=week), tz) for week in range(1, weeks + 1))
    return [day for day in before if day.count == slots.count]


def _table(
    chunk: list[Meter],
    grids: Grids,
    max_demand_w: int,
    vee: VeeSettings | None,
    due: int,
    shown_mwh: int,
    marks: Marks,
) -> DayTable:
    (fwd, rev), *_ = grids
    if vee is None:
        return day_table(chunk, fwd, rev, max_demand_w)
    large = too_large(chunk)
    if large:
        shown = ", ".join(chunk[i].id for i in large[:5]) + (", ..." if len(large) > 5 else "")
        log.warning("no VEE for %d meters (%s): a day could overflow int64", len(large), shown)
    parts, alone = [], set(large)
    for lo, hi in _parts(len(chunk), large):  # the same rows, in the same order
        if lo in alone:
            parts.append(day_table(chunk[lo:hi], fwd[lo:hi], rev[lo:hi], max_demand_w))
            continue
        part = [(f[lo:hi], r[lo:hi]) for f, r in grids]
        day = validated(chunk[lo:hi], part, max_demand_w, vee, due, shown_mwh, marks)
        parts.append(day.for_customer(vee))
    return concat(parts, fwd.shape[1] - 1)


def too_large(meters: Sequence[Meter]) -> list[int]:
    """The positions of the meters whose register turn is too large for VEE."""
    known: dict[int, bool] = {}  # by spec: most meters share one
    found = []
    for i, meter in enumerate(meters):
        key = id(meter.spec)
        if key not in known:
            known[key] = beyond_vee(meter)
        if known[key]:
            found.append(i)
    return found


def _parts(count: int, large: list[int]) -> Iterator[tuple[int, int]]:
    """``count`` meters cut into parts of at most COMPUTE_CHUNK (whose arrays stay in the
    processor's cache), each meter too large for VEE a part of its own. Each row is
    validated on its own: where the parts are cut changes no byte."""
    lo = 0
    for i in large:
        yield from _cut(lo, i)
        yield i, i + 1
        lo = i + 1
    yield from _cut(lo, count)


def _cut(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    for start in range(lo, hi, COMPUTE_CHUNK):
        yield start, min(start + COMPUTE_CHUNK, hi)


def validated(
    meters: list[Meter],
    grids: Grids,
    max_demand_w: int,
    vee: VeeSettings,
    due: int,
    shown_mwh: int,
    marks: Marks | None = None,
) -> VeeDay:
    """The day of ``meters`` through VEE: ``grids`` holds the day's registers, then each
    like day's; ``marks`` what the store knows of its readings. ValueError for a meter
    whose registers could overflow int64 over a day."""
    (fwd, rev), *weeks = grids
    grid = grid_of(meters, fwd, rev, max_demand_w, shown_mwh)
    if marks is not None and marks.conflicts:
        grid = replace(grid, conflicts=marks.conflicting_boundaries(grid))
    if marks is not None and marks.drift:
        grid = replace(grid, drifting=marks.drifting_slots(grid, meters))
    if marks is not None and any(
        m.installed_at is not None or m.removed_at is not None for m in meters
    ):
        grid = replace(grid, installed=marks.in_service(grid, meters))
    return validate_day(grid, like_days_of(grid, meters, weeks), vee, due)


@dataclass(frozen=True)
class Marks:
    """What the store knows of a day's readings beyond their registers: the (meter, t)
    of conflicting second readings, and the spells in which units' clocks drifted.
    ``start`` is the day's first boundary."""

    start: int
    conflicts: Conflicts
    drift: Sequence[DriftSpell] = ()

    def in_service(self, grid: DayGrid, meters: Sequence[Meter]) -> npt.NDArray[np.bool_]:
        """A mask of the grid's slots in which the row's meter was in service: a slot
        counts from its start at the meter's fitting, up to its end at its removal."""
        return service_of(grid.meters, meters, self.start, grid.count)

    def drifting_slots(self, grid: DayGrid, meters: Sequence[Meter]) -> npt.NDArray[np.bool_]:
        """A mask of the grid's slots in a drift spell of the unit of the row's meter."""
        device_of = {m.id: m.device for m in meters}
        units = [device_of.get(meter, "") for meter in grid.meters]
        return drifting_slots(units, self.drift, self.start, grid.count)

    def conflicting_boundaries(self, grid: DayGrid) -> npt.NDArray[np.bool_]:
        """A mask of the grid's boundaries with a conflict, on every row of its meter."""
        conflicting = {meter for meter, _ in self.conflicts}
        rows: dict[str, list[int]] = {}
        for row, meter in enumerate(grid.meters):
            if meter in conflicting:
                rows.setdefault(meter, []).append(row)
        mask = np.zeros(grid.registers.shape, np.bool_)
        for meter, t in self.conflicts:
            index, off = divmod(t - self.start, SLOT_SECONDS)
            if off == 0 and 0 <= index <= grid.count:
                mask[rows.get(meter, []), index] = True
        return mask


def service_of(
    rows: Sequence[str], meters: Sequence[Meter], start: int, count: int
) -> npt.NDArray[np.bool_]:
    """Per row (a meter's id), which of ``count`` slots from ``start`` its meter served."""
    span = {m.id: (m.installed_at, m.removed_at) for m in meters}
    return slots_in_service([span[meter] for meter in rows], start, count)


def shown_mwh(customer: Customer) -> int:
    """The smallest energy the customer's files show: estimates come in whole units of it."""
    return int(10 ** max(0, 6 - customer.decimals))


def due_slots(slots: DaySlots, now: int | None) -> int:
    """How many of the day's slots have ended at ``now`` (all, if None)."""
    return slots.count if now is None else sum(1 for t in slots.boundaries[1:] if t <= now)


def _check_shape(fwd: Registers, rev: Registers, meters: int, boundaries: int) -> None:
    if fwd.shape != (meters, boundaries) or rev.shape != fwd.shape:
        raise ExportError(
            f"the store gave registers of shape {fwd.shape} and {rev.shape} for "
            f"{meters} meters and {boundaries} boundaries"
        )
