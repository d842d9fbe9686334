"""What VEE is given: a customer's day of boundary registers, and the meters' like days.

A ``DayGrid`` row is one register (a meter's forward or reverse) over the day's
boundaries, with the meter's resolution, modulus and demand limit, and what ingest
knew about its readings. A ``LikeDays`` row holds the same row's slot values and
flags on the same weekday 1, 2, ... weeks before, aligned to the day's slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kenshin.domain.daytable import Energies, Flags, slot_grid
from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W
from kenshin.domain.intervals import ACTUAL, NO_REGISTER, NO_VALUE, Registers
from kenshin.domain.model import Direction, Meter

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
_ACTUAL = ord(ACTUAL)
_NO_VALUE = ord(NO_VALUE)
_INT64_SAFE = 2**56  # as in daytable: a register turn below this sums over a day in int64


@dataclass(frozen=True, eq=False)
class DayGrid:
    """Rows of boundary registers (``count + 1`` columns, NO_REGISTER where none).

    ``installed`` is False on the slots where the row's meter was not in service
    (before it was fitted, after it was exchanged): they are never estimated.
    ``conflicts`` and ``quarantined`` mark boundaries that had a second reading with a
    different value, or a reading dated in the future; ``drifting`` marks the slots in
    which the unit of the row's meter had a clock off by more than the limit. Each of
    these may be None: nothing known.
    ``shown_mwh`` is the smallest energy the customer's file shows (1,000 for three
    decimals of kWh): estimates are split in whole units of its greatest common divisor
    with the row's resolution, so that they show in the file's decimals and still add
    up to the registers exactly.
    """

    meters: tuple[str, ...]
    directions: tuple[Direction, ...]
    registers: Registers
    resolution_mwh: Ints
    modulus: Ints
    max_demand_w: Ints
    installed: Mask | None = None
    conflicts: Mask | None = None
    quarantined: Mask | None = None
    drifting: Mask | None = None
    shown_mwh: int = 1

    def __post_init__(self) -> None:
        rows, width = self.registers.shape
        if width < 1:
            raise ValueError("registers: expected at least one boundary per row")
        for name in ("resolution_mwh", "modulus", "max_demand_w"):
            column = getattr(self, name)
            if column.shape != (rows,) or column.dtype != np.int64:
                raise ValueError(f"{name}: expected int64 of shape ({rows},), got {column.shape}")
        if len(self.meters) != rows or len(self.directions) != rows:
            raise ValueError(f"meters and directions: expected {rows} of each")
        # A float only guards the range here: no energy is computed with it.
        if (
            rows
            and float((self.resolution_mwh.astype(np.float64) * self.modulus).max()) >= _INT64_SAFE
        ):
            raise ValueError("resolution_mwh x modulus: a row could overflow int64 over a day")
        shapes = {
            "installed": (rows, width - 1),
            "conflicts": (rows, width),
            "quarantined": (rows, width),
            "drifting": (rows, width - 1),
        }
        for name, shape in shapes.items():
            mask = getattr(self, name)
            if mask is not None and (mask.shape != shape or mask.dtype != np.bool_):
                raise ValueError(f"{name}: expected bool of shape {shape}, got {mask.shape}")

    @property
    def count(self) -> int:
        """Slots per row."""
        return int(self.registers.shape[1]) - 1

    def __len__(self) -> int:
        return len(self.meters)

    def slots(self) -> tuple[Energies, Flags]:
        """The slot energies and A/N flags, exactly as ``daytable.slot_grid`` makes them."""
        values, flags = slot_grid(
            self.registers, self.resolution_mwh, self.modulus, self.max_demand_w
        )
        return values.astype(np.int64), flags

    def estimate_unit(self) -> Ints:
        """Per row, the mWh that estimates are split in whole units of."""
        return np.gcd(self.resolution_mwh, np.int64(self.shown_mwh))

    def known(self) -> Mask:
        """Where a boundary register is known."""
        return np.asarray(self.registers != NO_REGISTER)

    def in_service(self) -> Mask:
        """Where the row's meter was in service (all True when nobody said otherwise)."""
        if self.installed is None:
            return np.ones((len(self), self.count), np.bool_)
        return self.installed

    def reverse_rows(self) -> Mask:
        """Which rows are reverse (export) registers."""
        return np.array([d is Direction.REV for d in self.directions], np.bool_)


@dataclass(frozen=True, eq=False)
class LikeDays:
    """The rows' slot values and flags on the same weekday 1, 2, ... weeks before.

    Shape (rows, weeks, count), aligned to the day's slots; a slot without a value
    (or a row without history, such as a meter just fitted) is flagged N. Only ``A``
    slots count as history: an estimate never feeds another estimate.
    """

    values: Energies
    flags: Flags

    def __post_init__(self) -> None:
        if self.values.ndim != 3 or self.values.shape != self.flags.shape:
            raise ValueError(
                f"like days: expected values and flags of one shape (rows, weeks, slots), "
                f"got {self.values.shape} and {self.flags.shape}"
            )

    @classmethod
    def empty(cls, rows: int, count: int, weeks: int = 0) -> LikeDays:
        """No history at all."""
        return cls(
            np.zeros((rows, weeks, count), np.int64), np.zeros((rows, weeks, count), np.uint8)
        )

    def usable(self, weeks: int) -> tuple[Energies, Mask]:
        """The first ``weeks`` weeks' values and where they are actual."""
        return self.values[:, :weeks], self.flags[:, :weeks] == _ACTUAL


def grid_of(
    meters: Sequence[Meter],
    fwd: Registers,
    rev: Registers,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
    shown_mwh: int = 1,
) -> DayGrid:
    """The grid of ``meters`` in the rows ``daytable.day_table`` gives them: each meter's
    forward row, then its reverse row if it is known to have one or shows one here;
    ``shown_mwh`` as in ``DayGrid``."""
    count = fwd.shape[1]
    if fwd.shape != (len(meters), count) or rev.shape != fwd.shape:
        raise ValueError(f"registers: expected shape ({len(meters)}, n), got {fwd.shape}")
    has_rev = np.flatnonzero(
        (rev != NO_REGISTER).any(axis=1) | np.array([m.reverse for m in meters], np.bool_)
    )
    order = np.argsort(np.concatenate([np.arange(len(meters)) * 2, has_rev * 2 + 1]), kind="stable")
    source = np.concatenate([np.arange(len(meters)), has_rev])[order]
    is_rev = np.concatenate([np.zeros(len(meters), np.bool_), np.ones(len(has_rev), np.bool_)])
    is_rev = is_rev[order]
    registers = np.concatenate([fwd, rev[has_rev]])[order]
    columns = np.array(_meter_columns(meters, max_demand_w), np.int64).reshape(-1, 3)
    resolution, modulus, demand = columns[source].T.copy()
    ids = [meters[i].id for i in source.tolist()]
    directions = [Direction.REV if r else Direction.FWD for r in is_rev.tolist()]
    return DayGrid(
        tuple(ids), tuple(directions), registers, resolution, modulus, demand, shown_mwh=shown_mwh
    )


def beyond_vee(meter: Meter) -> bool:
    """Whether the meter's register turn is too large for VEE (``DayGrid``'s check: its
    slots could overflow int64 summed over a day). Its day is read as stored, gaps
    and all; the customer's other meters are validated as ever."""
    spec = meter.spec
    return float(spec.resolution_mwh) * float(spec.modulus) >= _INT64_SAFE


def _meter_columns(meters: Sequence[Meter], max_demand_w: int) -> list[tuple[int, int, int]]:
    """Each meter's resolution, modulus and demand limit, worked out once for each spec
    and maximum of its own: most meters share one spec object."""
    found: dict[tuple[int, int | None], tuple[int, int, int]] = {}
    rows = []
    for meter in meters:
        key = (id(meter.spec), meter.max_demand_w)
        row = found.get(key)
        if row is None:
            spec = meter.spec
            row = (spec.resolution_mwh, spec.modulus, meter.demand_limit_w(max_demand_w))
            found[key] = row
        rows.append(row)
    return rows


def like_days_of(
    grid: DayGrid, meters: Sequence[Meter], weeks: Sequence[tuple[Registers, Registers]]
) -> LikeDays:
    """The like days of ``grid``'s rows from the forward and reverse registers of ``meters``
    (in the order given to ``grid_of``) on the same weekday 1, 2, ... weeks before.

    Each week's registers must have the day's boundaries (a week of another length, as
    across a DST change, is the caller's to align first).
    """
    if not weeks:
        return LikeDays.empty(len(grid), grid.count)
    position = {m.id: i for i, m in enumerate(meters)}
    source = np.array([position[m] for m in grid.meters], np.int64)
    rev_rows = np.flatnonzero(grid.reverse_rows())
    rev_source = source[rev_rows]
    shape = (len(grid), len(weeks), grid.count)
    values, flags = np.empty(shape, np.int64), np.empty(shape, np.uint8)
    for week, (fwd, rev) in enumerate(weeks, start=1):
        if fwd.shape != (len(meters), grid.count + 1) or rev.shape != fwd.shape:
            raise ValueError(
                f"like day {week}: expected registers of shape ({len(meters)}, "
                f"{grid.count + 1}), got {fwd.shape} and {rev.shape}"
            )
        if not ((fwd != NO_REGISTER).any() or (rev != NO_REGISTER).any()):
            # A week without any reading (before the meters were read at all): every
            # slot missing, as slot_grid would say.
            values[:, week - 1], flags[:, week - 1] = 0, _NO_VALUE
            continue
        registers = fwd[source]
        registers[rev_rows] = rev[rev_source]
        values[:, week - 1], flags[:, week - 1] = slot_grid(
            registers, grid.resolution_mwh, grid.modulus, grid.max_demand_w
        )
    return LikeDays(values, flags)
