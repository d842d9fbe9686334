"""Grids for the VEE tests: one meter's day of registers at a time, written out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import Direction
from kenshin.domain.vee import DayGrid, LikeDays, VeeDay, VeeSettings, validate_day

X = NO_REGISTER  # a boundary without a reading
KWH = 1_000_000  # mWh
RES = 1_000  # mWh per register step (0.001 kWh)


def grid(
    *rows: Sequence[int],
    resolution: int = RES,
    digits: int = 8,
    demand_w: int = 100_000,
    reverse: Sequence[bool] = (),
    **marks: Any,
) -> DayGrid:
    """A grid of the given boundary registers, one row per meter M-0, M-1, ..."""
    n = len(rows)
    directions = [
        Direction.REV if i < len(reverse) and reverse[i] else Direction.FWD for i in range(n)
    ]
    return DayGrid(
        tuple(f"M-{i}" for i in range(n)),
        tuple(directions),
        np.array(rows, np.uint32),
        np.full(n, resolution, np.int64),
        np.full(n, 10**digits, np.int64),
        np.full(n, demand_w, np.int64),
        **marks,
    )


def like(values: Sequence[Sequence[Sequence[int]]]) -> LikeDays:
    """Like days of every row, week by week; a negative value is a slot with no value (N)."""
    array = np.array(values, np.int64)
    flags = np.where(array < 0, ord("N"), ord("A")).astype(np.uint8)
    return LikeDays(np.maximum(array, 0), flags)


def flat_like(rows: int, slots: int, weeks: int, value: int) -> LikeDays:
    """Like days of ``value`` in every slot."""
    return LikeDays(
        np.full((rows, weeks, slots), value, np.int64),
        np.full((rows, weeks, slots), ord("A"), np.uint8),
    )


def running(start: int, steps: Sequence[int]) -> list[int]:
    """Registers from ``start`` after each step."""
    out = [start]
    for step in steps:
        out.append(out[-1] + step)
    return out


def flags(day: VeeDay, row: int = 0) -> str:
    """A row's flags as text."""
    return str(day.flags[row].tobytes().decode("ascii"))


def vee(g: DayGrid, history: LikeDays | None = None, **settings: object) -> VeeDay:
    """``validate_day`` with no history unless given, and these settings."""
    history = history if history is not None else LikeDays.empty(len(g), g.count)
    return validate_day(g, history, VeeSettings(**settings))  # type: ignore[arg-type]
