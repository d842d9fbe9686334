"""The validation rules over whole grids of slots: each gives the slots it fires on.

``values`` are int64 mWh (rows x slots), ``actual`` where a slot has a measured
value. The like days (rows x weeks x slots) are the meter's own history of the same
weekday; a rule that compares with history stays silent on a slot without enough of it.
Comparisons are in integers: ``value x 100 > percent x reference + margin x 100``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kenshin.domain.vee.grid import LikeDays
from kenshin.domain.vee.settings import VeeSettings
from kenshin.domain.vee.spans import MWH_PER_WATT_SLOT, Ints, Mask, Spans, long_runs, span_sums

_NONE = np.int64(-1)
_UNBOUNDED = np.int64(2**62)


@dataclass(frozen=True, eq=False)
class History:
    """What the rules need from the like days, per slot and per row."""

    days: Ints  # rows x slots: how many like days have this slot actual
    highest: Ints  # rows x slots: the highest actual value of this slot, or -1
    lowest: Ints  # rows x slots: the lowest actual value of this slot, or 2**62
    peak: Ints  # rows: the highest actual slot of all the like days, or -1
    days_read: Ints  # rows: how many like days have any actual slot
    values: Ints  # rows x weeks x slots, the like days used
    valid: Mask  # where those are actual


def history_of(like: LikeDays, weeks: int) -> History:
    """The per-slot and per-row summary of the first ``weeks`` like days."""
    values, valid = like.usable(weeks)
    highest = np.where(valid, values, _NONE).max(axis=1, initial=_NONE)
    return History(
        days=valid.sum(axis=1, dtype=np.int64),
        highest=highest,
        lowest=np.where(valid, values, _UNBOUNDED).min(axis=1, initial=_UNBOUNDED),
        peak=highest.max(axis=1, initial=_NONE),
        days_read=valid.any(axis=2).sum(axis=1, dtype=np.int64),
        values=values,
        valid=valid,
    )


def negative(spans: Spans, closed_missing: Mask) -> Mask:
    """Slots of a span whose register went down further than any rollover explains."""
    return closed_missing & spans.closed & ~spans.plausible


def spike(
    values: Ints, actual: Mask, history: History, s: VeeSettings, demand_w: Ints | None = None
) -> Mask:
    """Slots far above the meter's peak over its like days, or above what the meter can
    draw (``demand_w`` per row: the same limit that tells a rollover from a reset)."""
    judged = (history.days_read >= s.history_min_days)[:, None]
    limit = s.spike_percent * history.peak[:, None] + s.spike_margin_mwh * 100
    fired = judged & (values * 100 > limit)
    if demand_w is not None:
        fired |= values > (demand_w * MWH_PER_WATT_SLOT)[:, None]
    return actual & fired


def high(values: Ints, actual: Mask, history: History, s: VeeSettings) -> Mask:
    """Slots far above the highest value of the same slot on the like days."""
    judged = history.days >= s.history_min_days
    limit = s.high_percent * history.highest + s.high_margin_mwh * 100
    return actual & judged & (values * 100 > limit)


def low(values: Ints, actual: Mask, history: History, s: VeeSettings) -> Mask:
    """Every actual slot of a row whose energy is far below each like day over the same
    slots (a like day counts only if it has every one of those slots)."""
    today = np.where(actual, values, 0).sum(axis=1)
    covers = (history.valid | ~actual[:, None, :]).all(axis=2)
    their = np.where(actual[:, None, :], history.values, 0).sum(axis=2)
    least = np.where(covers, their, _UNBOUNDED).min(axis=1, initial=_UNBOUNDED)
    judged = (covers.sum(axis=1) >= s.history_min_days) & actual.any(axis=1)
    fired = judged & (least >= s.low_min_mwh) & (today * 100 < s.low_percent * least)
    return np.asarray(actual & fired[:, None])


def zero_run(values: Ints, actual: Mask, s: VeeSettings) -> Mask:
    """Slots in a run of actual zeros longer than ``zero_run_hours``."""
    return long_runs(actual & (values == 0), s.zero_run_slots)


def stuck(values: Ints, actual: Mask, history: History, s: VeeSettings) -> Mask:
    """Slots in a run of ``stuck_slots`` zeros where every like day had energy."""
    habit = (history.days >= s.history_min_days) & (history.lowest >= s.stuck_min_mwh)
    return long_runs(actual & (values == 0) & habit, s.stuck_slots)


def sum_mismatch(values: Ints, has_value: Mask, spans: Spans) -> Mask:
    """Slots of a span with both end registers whose values, all present, do not add up
    to the register difference over the span."""
    complete = span_sums((~has_value).astype(np.int64), spans) == 0
    sums = span_sums(np.where(has_value, values, 0), spans)
    return np.asarray(has_value & complete & spans.plausible & (sums != spans.total))


def at_boundaries(marks: Mask | None, shape: tuple[int, int]) -> Mask:
    """Slots that begin or end at a marked boundary."""
    if marks is None:
        return np.zeros(shape, np.bool_)
    return np.asarray(marks[:, :-1] | marks[:, 1:])
