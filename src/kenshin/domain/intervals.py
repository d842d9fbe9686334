"""Slot energy from boundary readings.

A slot's energy is the register at its end minus the register at its start,
times the meter's resolution. Only readings exactly on a boundary are used here;
a slot without both boundary readings has no value (flag ``N``).

These functions work on one meter and are the reference: the export computes
a whole fleet's day with the same rules in ``daytable``, over numpy grids of
registers (``Registers``, ``NO_REGISTER`` where there is no reading), and is
tested against them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import mul, sub

import numpy as np
import numpy.typing as npt

from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W, register_delta
from kenshin.domain.model import Direction, MeterSpec, Reading
from kenshin.domain.slots import SLOT_SECONDS, DaySlots

ACTUAL = "A"
NO_VALUE = "N"
NO_REGISTER = 0xFFFFFFFF  # no reading here; above any register value (MAX_REGISTER)
# Registers of many meters at consecutive boundaries: one row per meter.
Registers = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True)
class MeterDay:
    """One meter's slot energies (mWh, None = no value) for one direction on one local day."""

    meter: str
    direction: Direction
    values: tuple[int | None, ...]

    @property
    def flags(self) -> str:
        """One quality flag per slot."""
        if None not in self.values:  # the common day, at C speed
            return ACTUAL * len(self.values)
        return "".join([NO_VALUE if v is None else ACTUAL for v in self.values])

    @property
    def total(self) -> int:
        """Sum of the slots that have a value."""
        return sum(v for v in self.values if v is not None)


def slot_energies(
    registers: Sequence[int], spec: MeterSpec, max_demand_w: int = DEFAULT_MAX_DEMAND_W
) -> tuple[int | None, ...]:
    """Energy (mWh) of each slot between consecutive boundary ``registers``."""
    resolution = spec.resolution_mwh
    if NO_REGISTER not in registers:
        deltas = list(map(sub, registers[1:], registers[:-1]))
        if not deltas or min(deltas) >= 0:  # every boundary read and no wrap: the common day
            return tuple(map(mul, deltas, repeat(resolution)))
    values: list[int | None] = []
    modulus = spec.modulus
    prev = registers[0]
    for cur in registers[1:]:
        if NO_REGISTER in (prev, cur):
            values.append(None)
        elif cur >= prev:
            values.append((cur - prev) * resolution)
        else:
            values.append(
                register_delta(prev, cur, modulus, resolution, SLOT_SECONDS, max_demand_w)
            )
        prev = cur
    return tuple(values)


def slot_values(
    registers: Mapping[int, int],
    slots: DaySlots,
    spec: MeterSpec,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> tuple[int | None, ...]:
    """Energy of each slot of ``slots`` from ``registers`` (boundary instant -> raw value)."""
    return slot_energies(
        [registers.get(b, NO_REGISTER) for b in slots.boundaries], spec, max_demand_w
    )


def registers_at(readings: Sequence[Reading], slots: DaySlots) -> tuple[list[int], list[int]]:
    """Forward and reverse registers at each boundary of ``slots`` (NO_REGISTER where none)."""
    fwd = [NO_REGISTER] * (slots.count + 1)
    rev = [NO_REGISTER] * (slots.count + 1)
    for reading in readings:
        index = slots.boundary_index(reading.t)
        if index is not None:
            if reading.fwd is not None:
                fwd[index] = reading.fwd
            if reading.rev is not None:
                rev[index] = reading.rev
    return fwd, rev


def day_of_registers(
    meter: str,
    fwd: Sequence[int],
    rev: Sequence[int],
    spec: MeterSpec,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> list[MeterDay]:
    """A forward row, and a reverse row when the day has any reverse register."""
    days = [MeterDay(meter, Direction.FWD, slot_energies(fwd, spec, max_demand_w))]
    if rev.count(NO_REGISTER) != len(rev):
        days.append(MeterDay(meter, Direction.REV, slot_energies(rev, spec, max_demand_w)))
    return days


def meter_days(
    meter: str,
    readings: Sequence[Reading],
    slots: DaySlots,
    spec: MeterSpec,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> list[MeterDay]:
    """The day of one meter from its readings: see ``day_of_registers``."""
    fwd, rev = registers_at(readings, slots)
    return day_of_registers(meter, fwd, rev, spec, max_demand_w)
