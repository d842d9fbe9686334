"""A customer's day through VEE: every rule, then the estimates, then each slot's flag.

``validate_day`` is what the export calls with a day of boundary registers and the
meters' like days. Each slot comes out with its value, one flag (``A`` actual,
``E`` estimated, ``Q`` questionable: kept but a check failed, ``N`` no value), the
method of its estimate and the bits of every rule that fired on it (``explain``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kenshin.domain.daytable import DayTable, Energies, Flags
from kenshin.domain.intervals import ACTUAL, NO_VALUE
from kenshin.domain.model import Direction
from kenshin.domain.vee import rules
from kenshin.domain.vee.estimate import METHOD_NAMES, Method, Methods, estimate
from kenshin.domain.vee.grid import DayGrid, LikeDays
from kenshin.domain.vee.settings import (
    EXPLAINS_GAPS,
    RULE_NAMES,
    Rule,
    VeeSettings,
    rule_names,
)
from kenshin.domain.vee.spans import Mask, spans_of

ESTIMATED = "E"
QUESTIONABLE = "Q"
RuleBits = npt.NDArray[np.uint16]
_A, _E, _Q, _N = (ord(f) for f in (ACTUAL, ESTIMATED, QUESTIONABLE, NO_VALUE))


@dataclass(frozen=True, eq=False)
class VeeDay:
    """Rows of slot values (int64 mWh, 0 where N), flags, estimate methods and rule bits."""

    meters: tuple[str, ...]
    directions: tuple[Direction, ...]
    values: Energies
    flags: Flags
    methods: Methods
    rules: RuleBits

    def __len__(self) -> int:
        return len(self.meters)

    def explain(self, row: int, slot: int) -> list[str]:
        """Why a slot has its flag: the rules that fired on it, then the estimate's method."""
        reasons = rule_names(int(self.rules[row, slot]))
        method = Method(int(self.methods[row, slot]))
        return [*reasons, f"estimated by {METHOD_NAMES[method]}"] if method else reasons

    def row_of(self, meter: str, direction: Direction = Direction.FWD) -> int:
        """The row of ``meter``'s ``direction``; ValueError if the day has none."""
        for row, key in enumerate(zip(self.meters, self.directions, strict=True)):
            if key == (meter, direction):
                return row
        raise ValueError(f"no {direction.value} row of meter {meter!r} on this day")

    def count_flag(self, flag: str) -> int:
        """How many slots carry ``flag``."""
        return int(np.count_nonzero(self.flags == ord(flag)))

    def rule_counts(self) -> dict[str, int]:
        """How many slots each rule fired on (rules that never fired are left out)."""
        counts = {
            name: int(np.count_nonzero(self.rules & rule)) for name, rule in RULE_NAMES.items()
        }
        return {name: count for name, count in counts.items() if count}

    def for_customer(self, settings: VeeSettings) -> DayTable:
        """The day as the customer's file shows it: estimates only if it takes them (else
        no value, N), and questionable slots as Q only if it takes that flag (else A)."""
        values, flags, methods = self.values, self.flags, self.methods
        if not settings.write_estimates:
            dropped = flags == _E
            values = np.where(dropped, 0, values)
            flags = np.where(dropped, _N, flags).astype(np.uint8)
            methods = np.where(dropped, Method.NONE, methods).astype(np.uint8)
        if not settings.write_questionable:
            flags = np.where(flags == _Q, _A, flags).astype(np.uint8)
        return DayTable(self.meters, self.directions, values, flags, methods)


def validate_day(
    grid: DayGrid, like: LikeDays, settings: VeeSettings, due: int | None = None
) -> VeeDay:
    """Validate and estimate every row of ``grid``; ``like`` holds the rows' like days.

    Only the first ``due`` slots (default: all) have ended: a later slot is neither
    missing nor estimated, so a provisional day fills in as it goes.
    """
    count = grid.count
    due = _checked_due(grid, like, due)
    values, flags = grid.slots()
    actual = flags == _A
    in_service = grid.in_service()
    service = in_service & (np.arange(count) < due)
    history = rules.history_of(like, settings.like_day_weeks)
    bits = _judge(grid, values, actual, history, settings)
    holes = ~actual & service
    if settings.enabled(Rule.MISSING):
        bits |= _bits(holes, Rule.MISSING)
    estimates = np.zeros_like(values)
    methods = np.zeros(values.shape, np.uint8)
    rows = np.flatnonzero(holes.any(axis=1))  # only rows with a gap pay for the spans
    if rows.size:
        gaps = _Gaps(rows, values[rows], actual[rows], holes[rows], ~in_service[rows])
        bits[rows], estimates[rows], methods[rows] = _fill(
            grid, gaps, bits[rows], _rows(history, rows), settings
        )
    estimated = methods != Method.NONE
    questionable = actual & ((bits & ~np.uint16(EXPLAINS_GAPS)) != 0)
    out_flags = np.where(estimated, _E, np.where(questionable, _Q, flags)).astype(np.uint8)
    return VeeDay(
        grid.meters,
        grid.directions,
        np.where(estimated, estimates, values),
        out_flags,
        methods,
        bits,
    )


def _checked_due(grid: DayGrid, like: LikeDays, due: int | None) -> int:
    """``due`` (default: every slot), once the like days and it are checked to fit ``grid``."""
    count = grid.count
    if like.values.shape[0] != len(grid) or like.values.shape[2] != count:
        raise ValueError(
            f"like days: expected shape ({len(grid)}, weeks, {count}), got {like.values.shape}"
        )
    due = count if due is None else due
    if not 0 <= due <= count:
        raise ValueError(f"due: expected 0 to {count} slots, got {due}")
    return due


@dataclass(frozen=True)
class _Gaps:
    """The rows of a day with a gap: their slots' values, which were measured, which are
    holes to fill and which are out of service."""

    rows: npt.NDArray[np.intp]
    values: Energies
    actual: Mask
    holes: Mask
    out_of_service: Mask


def _fill(
    grid: DayGrid, gaps: _Gaps, bits: RuleBits, history: rules.History, settings: VeeSettings
) -> tuple[RuleBits, Energies, npt.NDArray[np.uint8]]:
    """The rows' rule bits, estimates and methods once their gaps are filled where an
    estimate adds up to the registers (the negative and sum rules judge the spans)."""
    rows = gaps.rows
    spans = spans_of(
        grid.known()[rows],
        grid.registers[rows].astype(np.int64),
        grid.resolution_mwh[rows],
        grid.modulus[rows],
        grid.max_demand_w[rows],
        grid.estimate_unit()[rows],
    )
    if settings.enabled(Rule.NEGATIVE):
        bits |= _bits(rules.negative(spans, ~gaps.actual), Rule.NEGATIVE)
    values, methods = estimate(gaps.holes, gaps.out_of_service, spans, history, settings)
    done = methods != Method.NONE
    out = np.where(done, values, gaps.values)
    if settings.enabled(Rule.SUM):
        wrong = rules.sum_mismatch(out, gaps.actual | done, spans)
        bits |= _bits(wrong, Rule.SUM)
        done &= ~wrong  # an estimate that does not add up is never written
    return bits, np.where(done, values, 0), np.where(done, methods, Method.NONE).astype(np.uint8)


def _judge(
    grid: DayGrid, values: Energies, actual: Mask, history: rules.History, s: VeeSettings
) -> RuleBits:
    """The bits of the rules that judge measured slots."""
    shape = values.shape
    habits = actual if s.judge_reverse else actual & ~grid.reverse_rows()[:, None]
    fired: list[tuple[Rule, Callable[[], Mask]]] = [
        (Rule.SPIKE, lambda: rules.spike(values, actual, history, s, grid.max_demand_w)),
        (Rule.HIGH, lambda: rules.high(values, habits, history, s)),
        (Rule.LOW, lambda: rules.low(values, habits, history, s)),
        (Rule.ZERO_RUN, lambda: rules.zero_run(values, habits, s)),
        (Rule.STUCK, lambda: rules.stuck(values, habits, history, s)),
        (Rule.CONFLICT, lambda: rules.at_boundaries(grid.conflicts, shape)),
        (Rule.FUTURE, lambda: rules.at_boundaries(grid.quarantined, shape)),
        (Rule.CLOCK, lambda: _slots_marked(grid.drifting, actual)),
    ]
    bits = np.zeros(shape, np.uint16)
    for rule, check in fired:
        if s.enabled(rule):
            bits |= _bits(check(), rule)
    return bits


def _bits(mask: Mask, rule: Rule) -> RuleBits:
    return np.asarray(mask.astype(np.uint16) * np.uint16(rule.value))


def _slots_marked(marked: Mask | None, actual: Mask) -> Mask:
    if marked is None:
        return np.zeros(actual.shape, np.bool_)
    return actual & marked


def _rows(history: rules.History, rows: npt.NDArray[np.intp]) -> rules.History:
    return rules.History(
        history.days[rows],
        history.highest[rows],
        history.lowest[rows],
        history.peak[rows],
        history.days_read[rows],
        history.values[rows],
        history.valid[rows],
    )
