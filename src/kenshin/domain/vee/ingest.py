"""The rules ingest applies as readings arrive: future-dated readings and unit clocks.

A reading dated more than ``future_tolerance_s`` after the server received it
cannot be true: it is quarantined, never used for a slot. A unit's clock is judged
from its messages' ``sent`` times against their receipt: the median of
(received - sent) over its recent messages is the clock's offset (network delay
and the odd held message barely move a median), and a unit whose offset exceeds
``drift_limit_s`` over at least ``drift_min_samples`` messages is drifting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kenshin.domain.model import Reading
from kenshin.domain.vee.settings import VeeSettings

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
CLOCK_WINDOW = 96  # messages kept per unit: two days of half-hourly messages


def future_dated(t: Ints, received_at: Ints | int, settings: VeeSettings) -> Mask:
    """Which readings (UTC epoch s) are dated beyond the tolerance after their receipt."""
    return np.asarray(t > np.asarray(received_at) + settings.future_tolerance_s)


def split_future(
    readings: Sequence[Reading], received_at: int, settings: VeeSettings
) -> tuple[list[Reading], list[Reading]]:
    """The readings to store, and those to quarantine as dated in the future."""
    latest = received_at + settings.future_tolerance_s
    kept = [r for r in readings if r.t <= latest]
    if len(kept) == len(readings):
        return kept, []
    return kept, [r for r in readings if r.t > latest]


@dataclass(frozen=True, slots=True)
class ClockTrack:
    """A unit's most recent (received - sent) offsets in seconds, oldest first."""

    offsets: tuple[int, ...] = ()

    def add(self, sent: Sequence[int], received: Sequence[int]) -> ClockTrack:
        """The track with these messages' offsets added, the oldest beyond the window dropped."""
        if len(sent) != len(received):
            raise ValueError("sent and received: expected one time each per message")
        fresh = tuple(r - s for s, r in zip(sent, received, strict=True))
        return ClockTrack((self.offsets + fresh)[-CLOCK_WINDOW:])

    def estimate(self, settings: VeeSettings) -> ClockEstimate:
        """The clock's offset (the lower median) and whether it is drifting."""
        if not self.offsets:
            return ClockEstimate(0, 0, drifting=False)
        ordered = sorted(self.offsets)
        offset = ordered[(len(ordered) - 1) // 2]
        drifting = (
            len(ordered) >= settings.drift_min_samples and abs(offset) > settings.drift_limit_s
        )
        return ClockEstimate(offset, len(ordered), drifting=drifting)


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """A unit clock's offset (s; negative: the unit's clock is ahead) over ``samples`` messages."""

    offset_s: int
    samples: int
    drifting: bool


def clock_offsets(
    units: Ints, sent: Ints, received: Ints, unit_count: int, settings: VeeSettings
) -> tuple[Ints, Ints, Mask]:
    """Per unit (numbered 0..unit_count-1): the lower median of (received - sent), the
    number of messages and whether it is drifting; all units at once."""
    offsets = received - sent
    order = np.lexsort((offsets, units))
    ranked, sorted_units = offsets[order], units[order]
    samples = np.bincount(units, minlength=unit_count).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(samples)[:-1]]).astype(np.int64)
    heard = samples > 0
    median = np.zeros(unit_count, np.int64)
    picks = starts[heard] + (samples[heard] - 1) // 2
    median[heard] = ranked[picks]
    if picks.size and not np.array_equal(sorted_units[picks], np.flatnonzero(heard)):
        raise AssertionError("units sorted out of order")  # pragma: no cover - invariant
    drifting = (samples >= settings.drift_min_samples) & (np.abs(median) > settings.drift_limit_s)
    return median, samples, drifting
