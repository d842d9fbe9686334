"""A whole fleet's day of slot energies at once, as numpy arrays.

The same arithmetic as ``intervals.slot_energies`` (which stays the reference for
one meter), done for every meter of a customer in a few array operations: a day
of 100,000 meters is five million slots, too many to visit one by one in Python.
Integers throughout (int64 mWh): exact, no float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W, demand_limit_mwh
from kenshin.domain.intervals import ACTUAL, NO_REGISTER, NO_VALUE, MeterDay, Registers
from kenshin.domain.model import Direction, Meter
from kenshin.domain.slots import SLOT_SECONDS

# int64 mWh; Python ints (dtype object) for a table with a meter whose register turn or
# demand limit could overflow int64 over a day, so that no meter is ever inexact.
Energies = npt.NDArray[np.int64]
Numbers = npt.NDArray[Any]  # int64, or Python ints where int64 could overflow
_INT64_SAFE = 2**56  # a register turn or limit below this sums over a day within int64
Flags = npt.NDArray[np.uint8]  # one ASCII flag letter per slot
_ACTUAL, _NO_VALUE = ord(ACTUAL), ord(NO_VALUE)
_ACTUAL_FLAG, _NO_VALUE_FLAG = np.uint8(_ACTUAL), np.uint8(_NO_VALUE)


@dataclass(frozen=True, eq=False)
class DayTable:
    """Rows of slot energies (mWh) and flags, one per meter and direction.

    ``values`` is 0 wherever the flag is ``N`` (no value). ``methods``, where VEE ran,
    holds each estimated slot's method code (0 elsewhere; ``domain.vee.Method``).
    """

    meters: tuple[str, ...]
    directions: tuple[Direction, ...]
    values: Numbers
    flags: Flags
    methods: Flags | None = None

    def __len__(self) -> int:
        return len(self.meters)

    @classmethod
    def of(cls, days: Sequence[MeterDay], count: int) -> DayTable:
        """The table of MeterDays (None = no value), each of ``count`` slots."""
        values = np.zeros((len(days), count), np.int64)
        flags = np.full((len(days), count), _ACTUAL, np.uint8)
        for row, day in enumerate(days):
            if len(day.values) != count:
                raise ValueError(f"meter {day.meter!r} has {len(day.values)} slots, not {count}")
            values[row] = [v or 0 for v in day.values]
            flags[row] = [_NO_VALUE if v is None else _ACTUAL for v in day.values]
        return cls(tuple(d.meter for d in days), tuple(d.direction for d in days), values, flags)

    def meter_days(self) -> list[MeterDay]:
        """The rows as MeterDays, None where there is no value."""
        days = []
        for meter, direction, values, flags in zip(
            self.meters, self.directions, self.values.tolist(), self.flags, strict=True
        ):
            if _NO_VALUE in flags:
                values = [None if f == _NO_VALUE else v for v, f in zip(values, flags, strict=True)]
            days.append(MeterDay(meter, direction, tuple(values)))
        return days

    def in_order(self) -> DayTable:
        """The same rows ordered by meter, then forward before reverse."""
        keys = list(zip(self.meters, self.directions, strict=True))
        if keys == sorted(keys):  # timsort checks a sorted list in one pass
            return self
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return self.take(np.array(order, np.int64))

    def take(self, rows: npt.NDArray[np.int64]) -> DayTable:
        """The given rows, in the order given."""
        picked = rows.tolist()
        return DayTable(
            tuple(self.meters[i] for i in picked),
            tuple(self.directions[i] for i in picked),
            self.values[rows],
            self.flags[rows],
            None if self.methods is None else self.methods[rows],
        )

    def totals(self) -> list[int]:
        """Each row's sum of the slots that have a value."""
        return [int(t) for t in self.values.sum(axis=1)]

    def flag_texts(self) -> list[str]:
        """Each row's flags as text, one letter per slot."""
        width = self.flags.shape[1]
        if width == 0:
            return [""] * len(self)
        text = self.flags.tobytes().decode("ascii")
        return [text[lo : lo + width] for lo in range(0, len(text), width)]

    def count_flag(self, flag: str) -> int:
        """How many slots carry ``flag``."""
        return int(np.count_nonzero(self.flags == ord(flag)))


def concat(tables: Sequence[DayTable], count: int) -> DayTable:
    """One table of the rows of ``tables``, in turn (of Python ints if any table is)."""
    if not tables:
        return DayTable((), (), np.zeros((0, count), np.int64), np.zeros((0, count), np.uint8))
    methods = None
    if any(t.methods is not None for t in tables):
        methods = np.concatenate(
            [np.zeros_like(t.flags) if t.methods is None else t.methods for t in tables]
        )
    return DayTable(
        tuple(chain.from_iterable(t.meters for t in tables)),
        tuple(chain.from_iterable(t.directions for t in tables)),
        np.concatenate([t.values for t in tables]),
        np.concatenate([t.flags for t in tables]),
        methods,
    )


def slot_grid(
    registers: Registers,
    resolution_mwh: Numbers,
    modulus: Numbers,
    max_demand_w: Numbers,
) -> tuple[Numbers, Flags]:
    """Energy and flag of every slot between consecutive registers, row by row.

    The per-row arrays give each meter's resolution, register modulus and the
    demand it can draw (``Meter.demand_limit_w``): a wrap above it is a reset, not a
    rollover, and the slot has no value.
    """
    prev, cur = registers[:, :-1], registers[:, 1:]
    missing = prev == NO_REGISTER
    missing |= cur == NO_REGISTER
    # The one new array of values (in the table's type): the rest works in place.
    energy = np.subtract(cur, prev, dtype=resolution_mwh.dtype)
    wrapped = energy < 0
    wraps = bool(wrapped.any())  # rare: a rollover, or a missing register
    if wraps:
        np.add(energy, modulus[:, None], out=energy, where=wrapped)
    energy *= resolution_mwh[:, None]
    if wraps:
        limit_mwh = demand_limit_mwh(max_demand_w, SLOT_SECONDS)
        missing |= wrapped & (energy > limit_mwh[:, None])
    np.copyto(energy, 0, where=missing)
    return energy, np.where(missing, _NO_VALUE_FLAG, _ACTUAL_FLAG)


def day_table(
    meters: Sequence[Meter],
    fwd: Registers,
    rev: Registers,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> DayTable:
    """Rows of ``meters`` (fwd/rev: one register row each): a forward row each, and a
    reverse row for the meters known to have a reverse register or showing one here,
    in the order of ``meters``. ``max_demand_w`` is a direct meter's limit, for the
    meters without one of their own (``Meter.demand_limit_w``)."""
    demands = [m.demand_limit_w(max_demand_w) for m in meters]
    # Many meters share one spec object: look each up by identity, not by value.
    specs = [id(m.spec) for m in meters]
    unique = {id(m.spec): m.spec for m in meters}
    known = {key: (spec.resolution_mwh, spec.modulus) for key, spec in unique.items()}
    safe = all(r * m < _INT64_SAFE for r, m in known.values()) and all(
        demand_limit_mwh(d, SLOT_SECONDS) < _INT64_SAFE for d in demands
    )
    dtype = np.int64 if safe else np.object_
    resolution = np.array([known[s][0] for s in specs], dtype)
    modulus = np.array([known[s][1] for s in specs], dtype)
    demand = np.array(demands, dtype)
    known_rev = np.array([m.reverse for m in meters], bool)
    has_rev = np.flatnonzero((rev != NO_REGISTER).any(axis=1) | known_rev)
    fwd_values, fwd_flags = slot_grid(fwd, resolution, modulus, demand)
    rev_values, rev_flags = slot_grid(
        rev[has_rev], resolution[has_rev], modulus[has_rev], demand[has_rev]
    )
    # Forward row of meter i at 2i, reverse at 2i + 1: sorting interleaves them.
    order = np.argsort(np.concatenate([np.arange(len(meters)) * 2, has_rev * 2 + 1]), kind="stable")
    ids, directions = _interleaved([m.id for m in meters], has_rev.tolist())
    return DayTable(
        tuple(ids),
        tuple(directions),
        np.concatenate([fwd_values, rev_values])[order],
        np.concatenate([fwd_flags, rev_flags])[order],
    )


def _interleaved(ids: list[str], with_rev: list[int]) -> tuple[list[str], list[Direction]]:
    """Row meters and directions: each meter forward, then reverse if in ``with_rev``."""
    meters: list[str] = []
    directions: list[Direction] = []
    done = 0
    for i in with_rev:  # a slice per reverse row: few next to the meters
        meters += ids[done : i + 1]
        meters.append(ids[i])
        directions += [Direction.FWD] * (i + 1 - done)
        directions.append(Direction.REV)
        done = i + 1
    meters += ids[done:]
    directions += [Direction.FWD] * (len(ids) - done)
    return meters, directions
