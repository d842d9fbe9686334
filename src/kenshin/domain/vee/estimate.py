"""Estimation: filling a gap from the registers around it and the meter's like days.

- ``LINEAR``: a gap of at most ``interpolation_max_slots`` with both end registers
  known. The gap's energy is the register difference, known exactly; it is split
  evenly in whole units (``DayGrid.shown_mwh``: what the customer's file shows),
  the remainder one unit each to the first slots.
- ``LIKE_DAY_SCALED``: a longer gap with both ends known. Each slot's weight is its
  mean over the like days that have it; the gap's exact energy is split in
  proportion, in whole units (cumulative integer division, so the slots add up
  to it exactly).
- ``LIKE_DAY``: a gap with an end register unknown (at the day's edge, or a silent
  meter). Each slot is its mean over the like days, rounded half up to a unit.

A gap is never estimated where its meter was not in service (an exchange), where
the register dropped further than a rollover explains (a reset), or where a slot
lacks ``like_day_min_weeks`` of history when the like days are needed.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from kenshin.domain.vee.rules import History
from kenshin.domain.vee.settings import VeeSettings
from kenshin.domain.vee.spans import Ints, Mask, Spans, span_prefix, span_sums

Methods = npt.NDArray[np.uint8]
_INT64_PRODUCT = 2**62


class Method(IntEnum):
    """How a slot's value was estimated (NONE: it was not)."""

    NONE = 0
    LINEAR = 1
    LIKE_DAY_SCALED = 2
    LIKE_DAY = 3


METHOD_NAMES = {
    Method.NONE: "",
    Method.LINEAR: "linear interpolation",
    Method.LIKE_DAY_SCALED: "like-day average scaled to the registers",
    Method.LIKE_DAY: "like-day average",
}


def estimate(
    holes: Mask, barred: Mask, spans: Spans, history: History, s: VeeSettings
) -> tuple[Ints, Methods]:
    """Estimated values (mWh) and methods of the ``holes`` (slots due, in service, with no
    value); slots left unestimated have method NONE and value 0. A gap with a ``barred``
    slot (its meter out of service) is not filled at all."""
    values = np.zeros(holes.shape, np.int64)
    methods = np.zeros(holes.shape, np.uint8)
    whole = span_sums(barred.astype(np.int64), spans) == 0
    gap = holes & whole & (spans.plausible | ~spans.closed)
    linear = gap & spans.plausible & (spans.length <= s.interpolation_max_slots)
    if linear.any():
        unit = spans.unit[linear]
        values[linear] = unit * _even_split(
            spans.total[linear] // unit, spans.length[linear], spans.position[linear]
        )
        methods[linear] = Method.LINEAR
    longer = gap & ~linear
    if not longer.any():
        return values, methods
    weights, have = _like_weights(history, s)
    # Every slot of the gap needs its weight, or none of the gap is estimated.
    filled = longer & (span_sums((~have).astype(np.int64), spans) == 0)
    scaled = filled & spans.plausible
    if scaled.any():
        values[scaled] = _proportional(weights, spans, scaled)
        methods[scaled] = Method.LIKE_DAY_SCALED
    plain = filled & ~spans.closed
    if plain.any():
        sums, days = _like_sums(history)
        unit, count = spans.unit[plain], days[plain]
        values[plain] = unit * ((2 * sums[plain] + count * unit) // (2 * count * unit))
        methods[plain] = Method.LIKE_DAY
    return values, methods


def _even_split(total: Ints, length: Ints, position: Ints) -> Ints:
    share, rest = np.divmod(total, length)
    return np.asarray(share + (position < rest))


def _like_sums(history: History) -> tuple[Ints, Ints]:
    sums = np.where(history.valid, history.values, 0).sum(axis=1)
    return sums, history.days


def _like_weights(history: History, s: VeeSettings) -> tuple[Ints, Mask]:
    """Each slot's mean over the like days, times a common multiple of the day counts (so
    the weight is exact in integers), and where there are enough days for it."""
    sums, days = _like_sums(history)
    multiple = math.lcm(*range(1, s.like_day_weeks + 1))
    have = days >= s.like_day_min_weeks
    weights = np.where(have, sums * multiple // np.maximum(days, 1), 0)
    return weights, have


def _proportional(weights: Ints, spans: Spans, where: Mask) -> Ints:
    """The span's total split in proportion to ``weights``, exactly, for the ``where`` slots.

    Slot k gets floor(T x C_k / S) - floor(T x C_(k-1) / S), C being the running sum of the
    weights and S their sum over the span: the slots add up to T. Where S is 0 (the like
    days had nothing there) the total is split evenly.
    """
    running = span_prefix(weights, spans)[where]
    below = running - weights[where]
    whole = span_sums(weights, spans)[where]
    unit = spans.unit[where]
    total = spans.total[where] // unit
    nothing = whole == 0
    if int(total.max(initial=0)) * int(whole.max(initial=0)) >= _INT64_PRODUCT:
        # Exact in Python integers when int64 could overflow: only for very large meters.
        total, running, below, whole = (a.astype(object) for a in (total, running, below, whole))
    safe = np.where(nothing, 1, whole)
    shares = total * running // safe - total * below // safe
    even = _even_split(spans.total[where] // unit, spans.length[where], spans.position[where])
    return np.asarray(unit * np.where(nothing, even, shares), dtype=np.int64)
