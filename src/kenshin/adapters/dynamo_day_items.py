"""A meter's UTC day of readings as one item of DynamoDB's readings table, for
``dynamo_readings``: how its readings are packed, how a batch settles against them, and
how the days of many meters are read into arrays of registers at once.

The item: ``pk`` the meter, ``sk`` the day's number (epoch s // 86,400), ``v`` its
version (each write adds one) and ``d``, its readings as records of 28 bytes in the
order of their second in the day: that second, the forward and reverse registers
(NO_REGISTER where none), the batch that stored the reading and when it was sent, as
seconds after its time. A day of half-hourly readings is about 1.4 KB (an item holds
400 KB).

One attribute, not one per reading: botocore parses each attribute value of a read on
its own, some 2.5 µs each, which for the export of a day of 100,000 meters (two UTC days
each) would be 25 s; ``d`` is one value, and numpy reads a whole BatchGetItem's days
into the arrays at once (0.4 s for those 200,000 days). An update costs as much as the
whole item anyway, whatever it changes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kenshin.adapters.dynamo_tables import Item
from kenshin.domain.intervals import NO_REGISTER, Registers
from kenshin.domain.model import Conflict, Reading
from kenshin.domain.readings import settle_one
from kenshin.domain.slots import SLOT_SECONDS

DAY_SECONDS = 86_400
# (second in the day, fwd, rev, batch, sent - t): little-endian, unpadded.
_RECORD = struct.Struct("<IIIqq")
_RECORDS = np.dtype(
    [("second", "<u4"), ("fwd", "<u4"), ("rev", "<u4"), ("batch", "<i8"), ("lag", "<i8")]
)
_UNSENT = -(2**63)  # the lag of a reading whose send time is not known
Record = tuple[int, int, int, int]  # fwd, rev, batch, lag: a record after its second


@dataclass
class DayItem:
    """A batch's readings of one meter's UTC day, settled against its item as read."""

    meter: str
    day: int
    offered: list[tuple[int, Reading]]  # (position in the batch, reading)
    version: int = 0  # of the item as read (0: there was none)
    stored: dict[int, Record] = field(default_factory=dict)  # by second in the day, as read
    kept: dict[int, tuple[Reading, int]] = field(default_factory=dict)  # and its batch (0: new)
    counts: tuple[int, int] = (0, 0)  # stored (new or completed), duplicates
    conflicts: list[tuple[int, Conflict]] = field(default_factory=list)  # by position

    @property
    def key(self) -> Item:
        """The item's key."""
        return day_key(self.meter, self.day)

    @property
    def changed(self) -> bool:
        """Whether the batch stored, completed or conflicted with a reading of the day."""
        return self.counts[0] > 0 or bool(self.conflicts)

    def settle(self, item: Item | None, at: int) -> None:
        """Settle the offered readings, in order, against ``item`` (None: absent), by
        the rules of ``domain.readings``; conflicts received ``at``."""
        self.version = 0 if item is None else int(item["v"]["N"])
        self.stored = {} if item is None else _records(item)
        self.kept, self.conflicts = {}, []
        stored = duplicates = 0
        for position, reading in self.offered:
            second = reading.t - self.day * DAY_SECONDS
            old = self.kept.get(second)
            if old is None and second in self.stored:
                old = _reading(self.meter, reading.t, self.stored[second])
            if old is None:
                self.kept[second] = (reading, 0)
                stored += 1
                continue
            kept, conflict = settle_one(old[0], reading, at)
            if conflict is not None:
                self.conflicts.append((position, conflict))
            elif kept == old[0]:
                duplicates += 1
            else:
                stored += 1
            self.kept[second] = (kept, old[1])
        self.counts = (stored, duplicates)

    def written(self, batch: int) -> bytes | None:
        """The day's readings as the batch leaves them, those new in it stored by
        ``batch``; None if the batch changes nothing in them."""
        found = {second: _record(r, stamp or batch) for second, (r, stamp) in self.kept.items()}
        if all(self.stored.get(second) == record for second, record in found.items()):
            return None
        records = self.stored | found
        return b"".join(_RECORD.pack(second, *records[second]) for second in sorted(records))


def day_key(meter: str, day: int) -> Item:
    """The key of a meter's UTC day."""
    return {"pk": {"S": meter}, "sk": {"N": str(day)}}


def days_of(readings: Sequence[Reading]) -> list[DayItem]:
    """The batch's readings that carry a register, by meter and UTC day."""
    days: dict[tuple[str, int], DayItem] = {}
    for position, reading in enumerate(readings):
        if reading.fwd is None and reading.rev is None:
            continue  # carries nothing: a duplicate
        key = (reading.meter, reading.t // DAY_SECONDS)
        if key not in days:
            days[key] = DayItem(*key, [])
        days[key].offered.append((position, reading))
    return list(days.values())


def readings_in(item: Item, start: int, end: int) -> Iterator[Reading]:
    """The readings of a day's item with start <= t <= end, by time."""
    meter, base = item["pk"]["S"], int(item["sk"]["N"]) * DAY_SECONDS
    for second, record in _records(item).items():
        if start <= base + second <= end:
            yield _reading(meter, base + second, record)[0]


def fill_registers(
    grids: tuple[Registers, Registers],
    items: Sequence[Item],
    rows: Mapping[str, int],
    boundaries: tuple[int, int],
    last_batch: int | None,
) -> None:
    """Write the registers of ``items`` (days of the meters of ``rows``, meter -> row)
    at the boundaries (start, count): start + i * 1800 for i in 0..count, column i;
    only those of readings stored by ``last_batch`` or before (None: any)."""
    if not items:
        return
    start, count = boundaries
    packed = [item["d"]["B"] for item in items]
    records = np.frombuffer(b"".join(packed), _RECORDS)
    sizes = [len(p) // _RECORD.size for p in packed]
    row = np.repeat(np.array([rows[item["pk"]["S"]] for item in items], np.int64), sizes)
    offsets = [int(item["sk"]["N"]) * DAY_SECONDS - start for item in items]
    since_start = np.repeat(np.array(offsets, np.int64), sizes) + records["second"]
    column, rest = np.divmod(since_start, SLOT_SECONDS)
    wanted = (rest == 0) & (column >= 0) & (column <= count)
    if last_batch is not None:
        wanted &= records["batch"] <= last_batch
    fwd, rev = grids
    fwd[row[wanted], column[wanted]] = records["fwd"][wanted]
    rev[row[wanted], column[wanted]] = records["rev"][wanted]


def _records(item: Item) -> dict[int, Record]:
    """The records of a day's item by their second in the day."""
    return {record[0]: record[1:] for record in _RECORD.iter_unpack(item["d"]["B"])}


def _record(reading: Reading, batch: int) -> Record:
    fwd, rev = reading.fwd, reading.rev
    return (
        NO_REGISTER if fwd is None else fwd,
        NO_REGISTER if rev is None else rev,
        batch,
        reading.sent - reading.t if reading.sent else _UNSENT,
    )


def _reading(meter: str, t: int, record: Record) -> tuple[Reading, int]:
    """The reading a record holds, and the batch that stored it."""
    fwd, rev, batch, lag = record
    reading = Reading(
        meter,
        t,
        None if fwd == NO_REGISTER else fwd,
        None if rev == NO_REGISTER else rev,
        0 if lag == _UNSENT else t + lag,
    )
    return reading, batch
