"""A customer's day as its file shows it: every meter's slot values and flags.

Where the day has a published revision, it is made again as that revision was made
(the settings, the cut, the drift spells and the store as of the batch it recorded:
``replay``), so the flags are the very flags of the file the customer has, not what a
later export may make of readings that came since. A day without a file yet is made as
the next export would make it now. Either way through ``aggregate_day``, the same code
the export and replay use: the console's heatmap and the CSV file never disagree.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from kenshin.domain.csvfiles import file_slots
from kenshin.domain.daytable import DayTable
from kenshin.domain.energy import KwhFormatter
from kenshin.domain.intervals import NO_VALUE
from kenshin.domain.made_with import made_with_from_json
from kenshin.domain.model import Customer, Direction, FileRevision, Meter, Watermark
from kenshin.domain.revisions import cut_of_day, settings_of_day
from kenshin.domain.slots import SLOT_SECONDS, DaySlots
from kenshin.services.aggregate import aggregate_day, drift_spells
from kenshin.services.export import ExportSettings
from kenshin.services.replay import ReplayPorts

_NO_VALUE = ord(NO_VALUE)


class FileDayPorts(ReplayPorts, Protocol):
    """What a day is read from: the registry, readings, unit clocks and revisions, as of
    a watermark. A ``Store`` is one."""

    def watermark(self) -> Watermark:
        """How far the store has come, for reads as of it."""


@dataclass(frozen=True)
class SlotValue:
    """One slot of a register: its start (UTC epoch s), its kWh as the customer's file
    writes it (None where the slot has no value) and its flag (A, E, Q or N)."""

    start: int
    kwh: str | None
    flag: str


@dataclass(frozen=True)
class RegisterDay:
    """One register's day of a meter."""

    meter: str
    direction: Direction
    slots: list[SlotValue]

    @property
    def flags(self) -> str:
        """Every slot's flag, one letter each."""
        return "".join(s.flag for s in self.slots)


@dataclass(frozen=True)
class FileDay:
    """A customer's day as its file shows it: the customer with the day's file settings,
    its slots, the rows (meters in id order, forward before reverse) and the revision
    they are of (None: no file yet, as the next export would make it)."""

    customer: Customer
    slots: DaySlots
    table: DayTable
    revision: FileRevision | None

    def registers(self) -> list[RegisterDay]:
        """The rows, each slot's kWh text as the file writes it."""
        kwh = KwhFormatter(self.customer.decimals)
        starts = [self.slots.start + i * SLOT_SECONDS for i in range(self.slots.count)]
        return [
            RegisterDay(
                meter,
                direction,
                [
                    SlotValue(start, None if flag == _NO_VALUE else kwh(int(value)), chr(flag))
                    for start, value, flag in zip(starts, values, flags, strict=True)
                ],
            )
            for meter, direction, values, flags in zip(
                self.table.meters,
                self.table.directions,
                self.table.values.tolist(),
                self.table.flags.tolist(),
                strict=True,
            )
        ]


def file_day(
    store: FileDayPorts,
    settings: ExportSettings,
    customer: Customer,
    day: date,
    *,
    now: int,
    meters: Collection[str] | None = None,
) -> FileDay:
    """The customer's local ``day`` as its file shows it (``meters``: those only)."""
    latest = store.revisions.latest_revision(customer.id, day.isoformat())
    if latest is not None and latest.as_of is not None and latest.made_with:
        try:
            return _as_published(store, latest, day, meters)
        except ValueError:  # what it was made with is unreadable: made as it would be now
            pass
    customer = settings_of_day(customer, latest)
    slots = file_slots(customer, day, cut_of_day(customer, latest))
    vee = settings.vee_for(customer.id)
    mark = store.watermark()
    devices = [d.id for d in store.registry.list_devices(customer.id)]
    listed = _only(store.registry.list_meters(customer.id, as_of=mark), meters)
    table = aggregate_day(
        store,
        customer,
        slots,
        settings.max_demand_w,
        vee,
        now=now,
        as_of=mark,
        drift=tuple(drift_spells(store.unit_clocks, slots, vee, devices)),
        meters=listed,
    )
    return FileDay(customer, slots, table.in_order(), None)


def _as_published(
    store: FileDayPorts, revision: FileRevision, day: date, meters: Collection[str] | None
) -> FileDay:
    """The day made again exactly as ``revision`` was made."""
    made = made_with_from_json(revision.made_with)
    slots = file_slots(made.customer, day, made.cut)
    listed = store.registry.list_meters(made.customer.id, as_of=revision.as_of)
    table = aggregate_day(
        store,
        made.customer,
        slots,
        made.max_demand_w,
        made.vee,
        now=revision.created_at,
        as_of=revision.as_of,
        drift=made.drift,
        meters=made.meters(_only(listed, meters)),
    )
    return FileDay(made.customer, slots, table.in_order(), revision)


def _only(listed: list[Meter], meters: Collection[str] | None) -> list[Meter]:
    return listed if meters is None else [m for m in listed if m.id in meters]
