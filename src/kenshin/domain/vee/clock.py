"""A unit's clock, tracked message by message: when it was last heard, how far off it is,
and the spells in which it was off by more than the limit.

Each message says when the unit sent it (``sent``, by the unit's clock); the server
knows when it received it. ``received - sent`` is network delay plus the clock's lag
(negative when the unit's clock is ahead). Delay is never negative and usually small,
so the smallest value over a window of receipt time (``CLOCK_WINDOW_S``) is the lag,
whatever messages were held back or resent in it. A window is judged when the first
message of a later window arrives, and only if it had ``drift_min_samples`` messages:
beyond ``drift_limit_s`` either way, the unit is drifting. A ``DriftSpell`` runs from
the first window judged drifting to the first judged right again (open until then).

The state per unit is a few integers, and a message updates it in O(1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kenshin.domain.slots import SLOT_SECONDS
from kenshin.domain.vee.settings import VeeSettings

Mask = npt.NDArray[np.bool_]
CLOCK_WINDOW_S = 3 * 3600  # six half-hourly messages: enough to find one with no delay
_FOREVER = 2**62


@dataclass(frozen=True, slots=True)
class DriftSpell:
    """A span of receipt time [start, end) in which ``device``'s clock was off by more than
    the limit; ``end`` None while it still is. ``offset_s`` is the largest offset judged
    in it (received - sent: negative when the unit's clock was ahead)."""

    device: str
    start: int
    end: int | None
    offset_s: int

    def overlaps(self, start: int, end: int) -> bool:
        """Whether the spell covers any of [start, end)."""
        return self.start < end and (self.end is None or start < self.end)


@dataclass(frozen=True, slots=True)
class UnitClock:
    """What is known of a unit's clock: when it was last heard (UTC s), the window being
    gathered (its start, smallest offset and messages), the offset of the last window
    judged (None before any), and the open drift spell, if any."""

    device: str
    last_seen: int
    window: int = 0
    window_min: int = 0
    window_count: int = 0
    offset_s: int | None = None
    spell: DriftSpell | None = None

    @property
    def drifting(self) -> bool:
        """Whether the unit's clock is in a drift spell."""
        return self.spell is not None


def observe(
    clock: UnitClock | None,
    device: str,
    received: int,
    sent: int | None,
    settings: VeeSettings,
) -> tuple[UnitClock, DriftSpell | None]:
    """The unit's clock after a message received at ``received`` (sent at ``sent`` by the
    unit's clock; None for a message that does not say), and the drift spell this message
    opened, extended or closed (None if none changed)."""
    if clock is None:
        clock = UnitClock(device, received, received - received % CLOCK_WINDOW_S)
    last_seen = max(clock.last_seen, received)
    if sent is None:
        return _with(clock, last_seen, clock.window, clock.window_min, clock.window_count), None
    offset = received - sent
    if received < clock.window + CLOCK_WINDOW_S:  # this window (or an earlier one: late news)
        low = min(offset, clock.window_min) if clock.window_count else offset
        return _with(clock, last_seen, clock.window, low, clock.window_count + 1), None
    judged, spell, changed = _judge(clock, settings)
    window = received - received % CLOCK_WINDOW_S
    return UnitClock(device, last_seen, window, offset, 1, judged, spell), changed


def _with(clock: UnitClock, last_seen: int, window: int, low: int, count: int) -> UnitClock:
    return UnitClock(clock.device, last_seen, window, low, count, clock.offset_s, clock.spell)


def _judge(
    clock: UnitClock, settings: VeeSettings
) -> tuple[int | None, DriftSpell | None, DriftSpell | None]:
    """Judge the finished window: (the offset now known, the open spell, the changed spell)."""
    spell = clock.spell
    if clock.window_count < settings.drift_min_samples:
        return clock.offset_s, spell, None  # too few messages to tell delay from the clock
    offset = clock.window_min
    if abs(offset) > settings.drift_limit_s:
        if spell is None:
            spell = DriftSpell(clock.device, clock.window, None, offset)
            return offset, spell, spell
        if abs(offset) > abs(spell.offset_s):
            spell = DriftSpell(clock.device, spell.start, None, offset)
            return offset, spell, spell
        return offset, spell, None
    if spell is None:
        return offset, None, None
    closed = DriftSpell(clock.device, spell.start, clock.window, spell.offset_s)
    return offset, None, closed


def drifting_slots(
    row_devices: Sequence[str], spells: Iterable[DriftSpell], start: int, count: int
) -> Mask:
    """Rows x slots of a day starting at ``start``: whether the slot overlaps a drift spell
    of the row's unit (``row_devices``: the unit of each row's meter)."""
    by_device: dict[str, list[DriftSpell]] = {}
    for spell in spells:
        by_device.setdefault(spell.device, []).append(spell)
    mask = np.zeros((len(row_devices), count), np.bool_)
    starts = start + SLOT_SECONDS * np.arange(count, dtype=np.int64)
    for row, device in enumerate(row_devices):
        for spell in by_device.get(device, ()):
            end = _FOREVER if spell.end is None else spell.end
            mask[row] |= (starts < end) & (starts + SLOT_SECONDS > spell.start)
    return mask
