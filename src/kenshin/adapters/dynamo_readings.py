"""Register readings in DynamoDB: the DynamoStore's ``readings`` (its ``dead_letters`` and
``revisions`` are in ``dynamo_letters``).

The readings table holds one item per meter and UTC day (``dynamo_day_items``);
conflicts and the days' newest batches are in the records table (``dynamo_conflicts``).

A batch reads the items it touches (BatchGetItem), settles each day's readings by the
rules of ``domain.readings`` and writes each day it changes once, several at once: a
PutItem where there was no item, else an UpdateItem, on condition that the item is as
read (its version). Where another writer came first, that day is read and settled
again. A batch is not one transaction (DynamoDB's hold 100 items at most and cost
twice as much): storing it again is idempotent, and its conflicts are written before
its readings, so that a batch stored again after a failure keeps them too.

A batch takes a number (the counter ``BATCHES``) before it writes, stamps its new
readings and its conflicts with it (a reading completed keeps its stamp) and marks the
UTC days it changes with it (``dynamo_conflicts.mark_days``); once written, it takes
another number and marks the days with that one. Reads as of a watermark see the
readings stamped with its batch or before. A file made as of a watermark older than the
batch is made again, as the first mark is newer, even if the batch fails half way and
storing it again finds nothing left to change; one made while the batch was half
written saw part of it, and the second mark is newer than its watermark. A batch that
ends records it (``dynamo_conflicts.finish_batch``); a batch that finds readings stored
by one that never ended (storing it again, after it failed past its last write) marks
their days anew, so a file made while that one was half written is made again too,
whatever other batches marked the days meanwhile.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import attrgetter, itemgetter

import numpy as np

from kenshin.adapters.dynamo_conflicts import (
    DynamoConflicts,
    finish_batch,
    mark_days,
    newest_batch,
    unfinished,
)
from kenshin.adapters.dynamo_day_items import (
    DAY_SECONDS,
    DayItem,
    day_key,
    days_of,
    fill_registers,
    readings_in,
)
from kenshin.adapters.dynamo_letters import DynamoDeadLetters, DynamoRevisions
from kenshin.adapters.dynamo_tables import BATCHES, DynamoTables, Item, is_condition_failure
from kenshin.domain.intervals import NO_REGISTER, Registers
from kenshin.domain.model import Conflict, Reading, StoreResult, Watermark
from kenshin.domain.readings import check_registers
from kenshin.domain.slots import SLOT_SECONDS
from kenshin.errors import StoreError

__all__ = ["DynamoDeadLetters", "DynamoReadings", "DynamoRevisions"]

_T = attrgetter("t")
_FEW_DAYS = 7  # readings_between gets this many days by key; more, it queries each meter
_CHUNK = 2_000  # meters readings_between reads at a time
_GET = 100  # keys in one BatchGetItem
_READERS = 8  # BatchGetItems under way at once
_WRITERS = 8  # PutItems and UpdateItems under way at once
_ROUNDS = 20  # attempts at writing a day other writers keep changing
MAX_DAY_BYTES = 390_000  # a day's packed readings: DynamoDB's items hold 400 KB in all


class DynamoReadings:
    """The Readings port: days of readings in the readings table, conflicts and the
    days' newest batches in the records table."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._conflicts = DynamoConflicts(tables)

    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch, day by day; duplicates change nothing, conflicts are kept aside."""
        try:
            check_registers(readings)
        except ValueError as exc:
            raise StoreError(f"DynamoDB store: {exc}") from exc
        days = days_of(readings)
        found = {(i["pk"]["S"], int(i["sk"]["N"])): i for i in self._fetched(days)}
        for day in days:
            day.settle(found.get((day.meter, day.day)), received_at)
        conflicts = sorted((c for d in days for c in d.conflicts), key=itemgetter(0))
        if conflicts or any(d.written(0) is not None for d in days):
            batch = self._tables.next_number(BATCHES)
            mark_days(self._tables, {d.day for d in days if d.changed}, batch)
            self._conflicts.add([c for _, c in conflicts], batch)
            self._write_all(days, batch, received_at)
            changed = {d.day for d in days if d.changed}
            if changed:
                mark_days(self._tables, changed, self._tables.next_number(BATCHES))
            finish_batch(self._tables, batch)
            conflicts = sorted((c for d in days for c in d.conflicts), key=itemgetter(0))
        self._confirm([d for d in days if not d.changed])
        stored = sum(d.counts[0] for d in days)
        offered = sum(len(d.offered) for d in days)
        duplicates = len(readings) - offered + sum(d.counts[1] for d in days)
        return StoreResult(stored, duplicates, tuple(c for _, c in conflicts))

    def _confirm(self, unchanged: Sequence[DayItem]) -> None:
        """Mark anew the days of readings found stored by a batch that never ended (it
        failed after writing them, perhaps before its second mark): see the module
        docstring."""
        stamps: dict[int, set[int]] = {}
        for day in unchanged:
            found = {stamp for _, stamp in day.kept.values() if stamp > 0}
            stamps.setdefault(day.day, set()).update(found)
        every = set().union(*stamps.values()) if stamps else set()
        left = unfinished(self._tables, every) if every else set()
        days = {day for day, found in stamps.items() if found & left}
        if days:
            mark_days(self._tables, days, self._tables.next_number(BATCHES))
            for batch in left:  # their readings are marked now: as if they had ended
                finish_batch(self._tables, batch)

    def _write_all(self, days: Sequence[DayItem], batch: int, at: int) -> None:
        """Write the days, several at once: each is a request of its own."""
        if len(days) == 1:
            self._write(days[0], batch, at)
            return
        with ThreadPoolExecutor(_WRITERS, thread_name_prefix="kenshin-dynamo") as pool:
            writes = [pool.submit(self._write, day, batch, at) for day in days]
        for write in writes:
            write.result()  # the first failure, once every write has ended

    def _write(self, day: DayItem, batch: int, at: int) -> None:
        """Write the day as the batch leaves it; where another writer came first, read it
        again and settle again (its conflicts kept too)."""
        for _ in range(_ROUNDS):
            packed = day.written(batch)
            if packed is None:
                return
            _check_size(day, packed)
            try:
                self._put(day, packed)
            except Exception as exc:
                if not is_condition_failure(exc):
                    raise
            else:
                return
            day.settle(self._tables.get(self._tables.readings, day.key), at)
            self._conflicts.add([c for _, c in day.conflicts], batch)
        raise StoreError(f"DynamoDB store: readings of {day.meter} kept changing under the batch")

    def _put(self, day: DayItem, packed: bytes) -> None:
        """Write the day's readings on condition that its item is as read (its version)."""
        table, version = self._tables.readings, {"N": str(day.version + 1)}
        if day.version == 0:
            item = {**day.key, "v": version, "d": {"B": packed}}
            condition = "attribute_not_exists(pk)"
            self._tables.call("put_item", TableName=table, Item=item, ConditionExpression=condition)
            return
        self._tables.call(
            "update_item",
            TableName=table,
            Key=day.key,
            UpdateExpression="SET d = :d, v = :next",
            ConditionExpression="v = :read",
            ExpressionAttributeValues={
                ":d": {"B": packed},
                ":next": version,
                ":read": {"N": str(day.version)},
            },
        )

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, sorted by t, in
        the order listed: a few days by key, more by a query of each meter."""
        first, last = start // DAY_SECONDS, end // DAY_SECONDS
        if first > last:
            return
        days = range(first, last + 1)
        for lo in range(0, len(meter_ids), _CHUNK):
            chunk = meter_ids[lo : lo + _CHUNK]
            by_meter: dict[str, list[Item]] | None = None
            if len(days) <= _FEW_DAYS:
                by_meter = {}
                for item in self._fetched([(m, d) for m in dict.fromkeys(chunk) for d in days]):
                    by_meter.setdefault(item["pk"]["S"], []).append(item)
            for meter in chunk:
                items = self._days(meter, first, last) if by_meter is None else by_meter.get(meter)
                found = sorted((r for i in items or () for r in readings_in(i, start, end)), key=_T)
                if found:
                    yield meter, found

    def _days(self, meter: str, first: int, last: int) -> Iterator[Item]:
        return self._tables.query(
            self._tables.readings,
            KeyConditionExpression="pk = :meter AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":meter": {"S": meter},
                ":first": {"N": str(first)},
                ":last": {"N": str(last)},
            },
        )

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count), NO_REGISTER where none; with
        ``as_of``, of readings of its batch or earlier. A BatchGetItem reads 100 of the
        meters' days, several at once, each straight into the arrays."""
        rows = {meter: row for row, meter in enumerate(dict.fromkeys(meter_ids))}
        fwd = np.full((len(rows), count + 1), NO_REGISTER, np.uint32)
        rev = fwd.copy()
        days = range(start // DAY_SECONDS, (start + count * SLOT_SECONDS) // DAY_SECONDS + 1)
        last = None if as_of is None else as_of.batch
        for items in self._batches([(m, d) for m in rows for d in days]):
            fill_registers((fwd, rev), items, rows, (start, count), last)
        if len(rows) == len(meter_ids):
            return fwd, rev
        listed = [rows[meter] for meter in meter_ids]  # a meter listed twice: its rows alike
        return fwd[listed], rev[listed]

    def _fetched(self, keys: Sequence[DayItem | tuple[str, int]]) -> Iterator[Item]:
        """The items of ``keys`` (days, or meters and days) that exist."""
        for items in self._batches(keys):
            yield from items

    def _batches(self, keys: Sequence[DayItem | tuple[str, int]]) -> Iterator[list[Item]]:
        """The items of ``keys`` (each once) that exist, each BatchGetItem's in turn
        (several under way at once, a few ahead of what is read at most)."""
        wanted = [k.key if isinstance(k, DayItem) else day_key(*k) for k in keys]
        chunks = [wanted[lo : lo + _GET] for lo in range(0, len(wanted), _GET)]
        if len(chunks) <= 1:
            yield self._tables.get_many(self._tables.readings, wanted)
            return
        with ThreadPoolExecutor(_READERS, thread_name_prefix="kenshin-dynamo") as pool:
            pending: deque[Future[list[Item]]] = deque()
            for chunk in chunks:
                pending.append(pool.submit(self._tables.get_many, self._tables.readings, chunk))
                if len(pending) >= 2 * _READERS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def last_batch(self) -> int:
        """The number of the newest batch (the counter ``BATCHES``)."""
        return self._tables.number(BATCHES)

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end; 0 if none."""
        return newest_batch(self._tables, start, end)

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""
        batch = None if as_of is None else as_of.batch
        return self._conflicts.between(meter_ids, start, end, batch)

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""
        return self._conflicts.listed(limit)


def _check_size(day: DayItem, packed: bytes) -> None:
    """StoreError, naming the meter and the day, if its readings would not fit in the one
    item DynamoDB keeps them in (400 KB): some 14,000 readings, one every 6 seconds."""
    if len(packed) > MAX_DAY_BYTES:
        date = time.strftime("%Y-%m-%d", time.gmtime(day.day * DAY_SECONDS))
        raise StoreError(
            f"DynamoDB store: the readings of meter {day.meter} on {date} (UTC) would be"
            f" {len(packed)} bytes, more than the {MAX_DAY_BYTES} one item of DynamoDB"
            " holds: a unit sending a reading more often than every 6 seconds?"
        )
