"""Slot energy from boundary readings.

A slot's energy is the register at its end minus the register at its start,
times the meter's resolution. Only readings exactly on a boundary are used here;
a slot without both boundary readings has no value (flag ``N``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W, register_delta
from kenshin.domain.model import Direction, MeterSpec, Reading
from kenshin.domain.slots import SLOT_SECONDS, DaySlots

ACTUAL = "A"
NO_VALUE = "N"


@dataclass(frozen=True, slots=True)
class MeterDay:
    """One meter's slot energies (mWh, None = no value) for one direction on one local day."""

    meter: str
    direction: Direction
    values: tuple[int | None, ...]

    @property
    def flags(self) -> str:
        """One quality flag per slot."""
        return "".join(NO_VALUE if v is None else ACTUAL for v in self.values)

    @property
    def total(self) -> int:
        """Sum of the slots that have a value."""
        return sum(v for v in self.values if v is not None)

    @property
    def actual(self) -> int:
        """Number of slots with a value."""
        return sum(1 for v in self.values if v is not None)


def slot_values(
    registers: Mapping[int, int],
    slots: DaySlots,
    spec: MeterSpec,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> tuple[int | None, ...]:
    """Energy of each slot of ``slots`` from ``registers`` (boundary instant -> raw value)."""
    resolution = spec.resolution_mwh
    modulus = spec.modulus
    get = registers.get
    values: list[int | None] = []
    append = values.append
    prev = get(slots.start)
    for boundary in range(slots.start + SLOT_SECONDS, slots.end + 1, SLOT_SECONDS):
        cur = get(boundary)
        if prev is None or cur is None:
            append(None)
        elif cur >= prev:
            append((cur - prev) * resolution)
        else:
            append(register_delta(prev, cur, modulus, resolution, SLOT_SECONDS, max_demand_w))
        prev = cur
    return tuple(values)


def meter_days(
    meter: str,
    readings: Sequence[Reading],
    slots: DaySlots,
    spec: MeterSpec,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> list[MeterDay]:
    """The day of one meter: a forward row, and a reverse row when the day has reverse readings."""
    fwd = {r.t: r.fwd for r in readings if r.fwd is not None}
    rev = {r.t: r.rev for r in readings if r.rev is not None}
    days = [MeterDay(meter, Direction.FWD, slot_values(fwd, slots, spec, max_demand_w))]
    if rev:
        days.append(MeterDay(meter, Direction.REV, slot_values(rev, slots, spec, max_demand_w)))
    return days
