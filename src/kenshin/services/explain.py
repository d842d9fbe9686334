"""Why a slot of a meter shows what it shows: its raw readings, its value and flag with
the rules that fired and the estimate's method, and the file revisions of its day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from kenshin.domain.daytable import day_table
from kenshin.domain.intervals import NO_VALUE
from kenshin.domain.lifecycle import slots_in_service
from kenshin.domain.model import Customer, Direction, FileRevision, Meter, Reading
from kenshin.domain.slots import SLOT_SECONDS, DaySlots, day_slots, slot_index, slot_labels, zone
from kenshin.domain.vee import beyond_vee
from kenshin.errors import KenshinError
from kenshin.ports import Revisions
from kenshin.services.aggregate import (
    DayPorts,
    Marks,
    due_slots,
    like_days,
    serves_day,
    shown_mwh,
    validated,
)
from kenshin.services.export import ExportSettings

CONTEXT_S = 3600  # raw readings shown before and after the slot
TOO_LARGE = (
    "not validated: the meter's register turn is too large for 64-bit sums over a day;"
    " its slots are as read, gaps and all"
)


class ExplainError(KenshinError):
    """The slot cannot be explained: unknown meter, no customer, no such slot."""


@dataclass(frozen=True)
class SlotRow:
    """One register's slot: its value (mWh, None without), flag, and why."""

    direction: Direction
    value: int | None
    flag: str
    reasons: list[str]


@dataclass(frozen=True)
class SlotExplanation:
    """A meter's slot, explained."""

    meter: Meter
    customer: Customer
    slots: DaySlots
    index: int
    label: str
    readings: list[Reading]
    rows: list[SlotRow]
    revisions: list[FileRevision]

    @property
    def start(self) -> int:
        """The slot's first instant, UTC epoch seconds."""
        return self.slots.start + self.index * SLOT_SECONDS

    @property
    def in_service(self) -> bool:
        """Whether the meter was in service for the whole slot."""
        span = (self.meter.installed_at, self.meter.removed_at)
        return bool(slots_in_service([span], self.start, 1)[0, 0])


class ExplainPorts(DayPorts, Protocol):
    """What an explanation reads: a meter's readings and registry, its unit's clock, its
    day's revisions. A ``Store`` is one."""

    @property
    def revisions(self) -> Revisions:
        """The published revisions of customers' day files."""


def explain_slot(
    store: ExplainPorts, settings: ExportSettings, meter_id: str, day: date, label: str, *, now: int
) -> SlotExplanation:
    """Explain the slot of ``meter_id`` that starts at local time ``label`` (``HH:MM``;
    a time that repeats when the clocks go back takes its offset, ``02:30+01:00``)."""
    meter = store.registry.get_meter(meter_id)
    if meter is None:
        raise ExplainError(f"no meter {meter_id!r}: see 'kenshin meters list'")
    device = store.registry.get_device(meter.device) if meter.device else None
    customer = store.registry.get_customer(device.customer) if device else None
    if customer is None:
        raise ExplainError(f"meter {meter_id} has no registered device, so no customer")
    tz = zone(customer.timezone)
    slots = day_slots(day, tz)
    index = slot_index(slots, tz, label)
    if index is None:
        labels = slot_labels(slots, tz)
        twice = [found for found in labels if found[:5] == label and len(found) > 5]
        if twice:  # the clocks went back: the hour comes twice, each with its offset
            raise ExplainError(
                f"{label} comes twice on {day} in {customer.timezone} (the clocks go back):"
                f" give {' or '.join(twice)}"
            )
        raise ExplainError(
            f"no slot of {day} starts at {label} in {customer.timezone}: expected one of"
            f" {labels[0]}, {labels[1]}, ... {labels[-1]}"
        )
    start = slots.start + index * SLOT_SECONDS
    readings = next(
        iter(
            store.readings.readings_between(
                [meter.id], start - CONTEXT_S, start + SLOT_SECONDS + CONTEXT_S
            )
        ),
        (meter.id, []),
    )[1]
    return SlotExplanation(
        meter,
        customer,
        slots,
        index,
        label,
        readings,
        # A day wholly outside the meter's time in service has no row of it in the file.
        _rows(store, settings, meter, customer, slots, index, now)
        if serves_day(meter, slots)
        else [],
        store.revisions.list_revisions(customer.id, day.isoformat()),
    )


def _rows(
    store: ExplainPorts,
    settings: ExportSettings,
    meter: Meter,
    customer: Customer,
    slots: DaySlots,
    index: int,
    now: int,
) -> list[SlotRow]:
    """The slot of each of the meter's registers as the customer's file shows it."""
    vee = settings.vee_for(customer.id)
    days = [slots] if vee is None else [slots, *like_days(customer, slots, vee.like_day_weeks)]
    grids = [store.readings.boundary_registers([meter.id], d.start, d.count) for d in days]
    if vee is None or beyond_vee(meter):
        table = day_table([meter], *grids[0], settings.max_demand_w)
        said = [] if vee is None else [TOO_LARGE]
        why: list[list[str]] = [said for _ in table.directions]
    else:
        due, shown = due_slots(slots, now), shown_mwh(customer)
        marks = Marks(
            slots.start,
            store.readings.conflicts_between([meter.id], slots.start, slots.end),
            store.unit_clocks.drift_spells(slots.start, slots.end, [meter.device]),
        )
        full = validated([meter], grids, settings.max_demand_w, vee, due, shown, marks)
        table = full.for_customer(vee)
        why = [full.explain(row, index) for row in range(len(full))]
    return [
        SlotRow(d, None if f == ord(NO_VALUE) else int(v), chr(f), reasons)
        for d, v, f, reasons in zip(
            table.directions, table.values[:, index], table.flags[:, index], why, strict=True
        )
    ]
