"""The 30-minute slot calendar of a customer's local day.

Slot 1 is 00:00-00:30 local. Slots are 1800 s of real time counted from the
first instant of the local day, so a day with a DST change has 46 or 50 slots
and every slot is still exactly 30 minutes long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SLOT_SECONDS = 1800


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``; raises ValueError with the fix if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Asia/Tokyo'"
        ) from exc


def day_start(day: date, tz: ZoneInfo) -> int:
    """UTC epoch second of the first instant of local ``day``."""
    # A midnight that DST skips maps (fold=0) to the transition instant: the day's first.
    return int(datetime.combine(day, time(0), tzinfo=tz).timestamp())


@dataclass(frozen=True, slots=True)
class DaySlots:
    """The slots of one local day: ``count`` slots starting at ``start`` (UTC epoch s)."""

    day: date
    start: int
    count: int

    @property
    def end(self) -> int:
        """UTC epoch second where the day ends (the next day's start)."""
        return self.start + self.count * SLOT_SECONDS

    @property
    def boundaries(self) -> range:
        """The count+1 slot boundaries, from the day's start to its end."""
        return range(self.start, self.end + 1, SLOT_SECONDS)

    def boundary_index(self, t: int) -> int | None:
        """Index (0..count) of the boundary at instant ``t``, or None if ``t`` is not one."""
        index, rest = divmod(t - self.start, SLOT_SECONDS)
        return index if rest == 0 and 0 <= index <= self.count else None


def day_slots(day: date, tz: ZoneInfo) -> DaySlots:
    """The slot calendar of local ``day`` in ``tz``."""
    start = day_start(day, tz)
    end = day_start(day + timedelta(days=1), tz)
    return DaySlots(day, start, (end - start) // SLOT_SECONDS)


def standard_time(day: date, tz: ZoneInfo) -> timezone:
    """The zone's standard time (its UTC offset without daylight saving) on ``day``."""
    noon = datetime.combine(day, time(12), tzinfo=tz)
    return timezone((noon.utcoffset() or timedelta(0)) - (noon.dst() or timedelta(0)))


def standard_day_slots(day: date, tz: ZoneInfo) -> DaySlots:
    """The 48 slots of ``day`` in the zone's standard time: from 00:00 to the next 00:00
    at the standard offset, whatever daylight saving does (NEM12 counts days so)."""
    start = int(datetime.combine(day, time(0), tzinfo=standard_time(day, tz)).timestamp())
    return DaySlots(day, start, 48)


def local_day(t: int, tz: ZoneInfo) -> date:
    """The local date of UTC instant ``t``."""
    return datetime.fromtimestamp(t, tz).date()


def slot_labels(slots: DaySlots, tz: ZoneInfo) -> list[str]:
    """Local start time of each slot as HH:MM; a time that repeats (DST) gets its UTC offset."""
    starts = [datetime.fromtimestamp(t, tz) for t in slots.boundaries[:-1]]
    plain = [f"{s:%H:%M}" for s in starts]
    repeated = {p for p in plain if plain.count(p) > 1}
    return [f"{p}{_offset(s)}" if p in repeated else p for p, s in zip(plain, starts, strict=True)]


def slot_index(slots: DaySlots, tz: ZoneInfo, label: str) -> int | None:
    """The index of the slot starting at local ``label``: ``HH:MM`` as ``slot_labels``
    names it, or ``HH:MM+HH:MM`` with its UTC offset (which any slot may be named by);
    None for no slot of the day."""
    labels = slot_labels(slots, tz)
    if label in labels:
        return labels.index(label)
    starts = [datetime.fromtimestamp(t, tz) for t in slots.boundaries[:-1]]
    offsets = [f"{s:%H:%M}{_offset(s)}" for s in starts]
    return offsets.index(label) if label in offsets else None


def slot_end_labels(slots: DaySlots, tz: ZoneInfo) -> list[str]:
    """Local end time of each slot as HH:MM, the day's end as 24:00; a time that repeats
    (DST) gets its UTC offset, so that no two slots share a label."""
    ends = [datetime.fromtimestamp(t, tz) for t in slots.boundaries[1:]]
    plain = [f"{e:%H:%M}" for e in ends[:-1]] + ["24:00"]
    repeated = {p for p in plain if plain.count(p) > 1}
    return [f"{p}{_offset(e)}" if p in repeated else p for p, e in zip(plain, ends, strict=True)]


def _offset(moment: datetime) -> str:
    text = moment.strftime("%z")
    return f"{text[:3]}:{text[3:]}"


def iso_utc(t: int) -> str:
    """UTC instant as ISO 8601 with a Z (the year in four digits)."""
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat("T", "seconds") + "Z"
