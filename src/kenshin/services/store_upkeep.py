"""Upkeep of the readings store that an export run offers it: closed days packed so that
exporting them is fast, old days settled so that they take fewer bytes. Both are
optional capabilities (``Compacting``, ``Settling``); a store without them does nothing."""

from __future__ import annotations

from typing import Protocol

from kenshin.ports import Compacting, Readings, Settling

__all__ = [
    "PACK_DELAY_S",
    "SETTLE_DAYS_PER_RUN",
    "SETTLE_DELAY_S",
    "pack_closed_days",
    "settle_old_days",
]

# Readings of a packed day still count; packing an hour after the day keeps that rare.
PACK_DELAY_S = 3600
# A day is kept in fewer bytes (settled) four days after it ended: its files are final by
# then, and a reading that still comes for it is taken all the same, only slower.
SETTLE_DELAY_S = 4 * 86_400
# Days settled a run at most, the oldest first: a million meters' day takes about a
# minute, and a store upgraded with months of days settles them over the next runs (one
# day more a run than the days that come, even where runs are a day apart).
SETTLE_DAYS_PER_RUN = 2


class WithReadings(Protocol):
    """A store, as far as its upkeep goes."""

    @property
    def readings(self) -> Readings: ...


def pack_closed_days(store: WithReadings, now: int) -> int:
    """Pack the store's UTC days that ended ``PACK_DELAY_S`` or more before ``now``, so
    that exporting them is fast, if it can (``Compacting``); how many days were packed."""
    readings = store.readings
    return readings.compact(now - PACK_DELAY_S) if isinstance(readings, Compacting) else 0


def settle_old_days(store: WithReadings, now: int, most: int = SETTLE_DAYS_PER_RUN) -> int:
    """Keep the store's UTC days that ended ``SETTLE_DELAY_S`` or more before ``now`` in
    fewer bytes, ``most`` of them at most, if it can (``Settling``); how many days were
    settled."""
    readings = store.readings
    if not isinstance(readings, Settling):
        return 0
    return readings.settle(now - SETTLE_DELAY_S, most)
