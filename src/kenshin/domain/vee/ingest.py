"""The rule ingest applies as readings arrive: future-dated readings.

A reading dated more than ``future_tolerance_s`` after the server received it
cannot be true: it is quarantined, never used for a slot. (Units' clocks are
tracked as their messages arrive too: see ``clock``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from kenshin.domain.model import DecodedMessage, Reading
from kenshin.domain.vee.settings import VeeSettings

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


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


def split_message(
    decoded: DecodedMessage, received_at: int, settings: VeeSettings
) -> tuple[DecodedMessage, list[Reading], list[Reading]]:
    """``split_future`` of a message's readings, and the message without those dated in
    the future nor the meters it read only then: quarantined, they register no meter and
    move no meter's time in service."""
    found = [r for block in decoded.meters for r in block.readings]
    kept, future = split_future(found, received_at, settings)
    if not future:
        return decoded, kept, future
    gone = {id(r) for r in future}
    blocks = []
    for block in decoded.meters:
        readings = tuple(r for r in block.readings if id(r) not in gone)
        if readings or not block.readings:
            blocks.append(replace(block, readings=readings))
    return replace(decoded, meters=tuple(blocks)), kept, future
