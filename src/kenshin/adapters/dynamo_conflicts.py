"""Conflicting readings, and the newest batch that changed each UTC day, in DynamoDB's
records table: for ``dynamo_readings``.

Keys (``pk``, ``sk``) this part owns, days being numbers (epoch s // 86,400) of 10 digits:

- ``conflict``, the conflict's number (``dynamo_letters.number_key``): a conflict, in
  the order kept (``list_conflicts``);
- ``conflicts#{day}``, ``{meter}#{t}#{registers}``: the conflicts of a UTC day, each
  kept once, with its meter, time and the batch that kept it (``conflicts_between``);
- ``conflict-day``, the day: a UTC day with conflicts;
- ``day-batch``, the day: the newest batch that changed a reading of the day;
- ``counter``, ``conflict``: the conflicts' numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from kenshin.adapters.dynamo_day_items import DAY_SECONDS
from kenshin.adapters.dynamo_letters import NumberedLog
from kenshin.adapters.dynamo_tables import DynamoTables, Item, is_condition_failure
from kenshin.domain.model import Conflict

CONFLICTS = "conflict"  # the log of conflicts, and its counter
_CONFLICT_DAY = "conflict-day"
_DAY_BATCH = "day-batch"
_BATCH_DONE = "batch-done"  # a batch that ended: sk its number
_LAST_DAY = 10**10 - 1


def _day_sk(day: int) -> str:
    """A UTC day's number as a sort key (days before 1970 count as its first)."""
    return f"{min(max(day, 0), _LAST_DAY):010d}"


class DynamoConflicts:
    """Conflicts kept once each: in the order kept, and by UTC day."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._log = NumberedLog(tables, CONFLICTS)

    def add(self, conflicts: Sequence[Conflict], batch: int) -> None:
        """Keep those of ``conflicts`` not kept yet, as kept by ``batch``."""
        if not conflicts:
            return
        days = sorted({_day_sk(c.t // DAY_SECONDS) for c in conflicts})
        marks = [{"pk": {"S": _CONFLICT_DAY}, "sk": {"S": day}} for day in days]
        self._tables.write_many(self._tables.records, marks)  # first: each leads to its day
        self._log.add([(_marker(c, batch), _entry(c)) for c in conflicts])

    def between(
        self, meter_ids: Sequence[str], start: int, end: int, batch: int | None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicts with start <= t <= end, kept by
        ``batch`` or before (None: any), in order."""
        wanted = set(meter_ids)
        found: set[tuple[str, int]] = set()
        for day in self._days(start, end) if wanted else ():
            for item in self._tables.query(
                self._tables.records,
                KeyConditionExpression="pk = :day",
                ExpressionAttributeValues={":day": {"S": f"conflicts#{day}"}},
                ProjectionExpression="m, t, b",
            ):
                meter, t, kept_by = item["m"]["S"], int(item["t"]["N"]), int(item["b"]["N"])
                if meter in wanted and start <= t <= end and (batch is None or kept_by <= batch):
                    found.add((meter, t))
        return sorted(found)

    def listed(self, limit: int) -> list[Conflict]:
        """Up to ``limit`` conflicts, oldest first."""
        return [_conflict(item) for item in islice(self._log.read(), max(limit, 0))]

    def _days(self, start: int, end: int) -> Iterator[str]:
        """The days with conflicts touching start..end."""
        for item in _day_range(self._tables, _CONFLICT_DAY, start, end, "sk"):
            yield item["sk"]["S"]


def mark_days(tables: DynamoTables, days: Iterable[int], batch: int) -> None:
    """Record ``batch`` as the newest that changed the UTC ``days``, where no newer is."""
    for day in sorted(set(map(_day_sk, days))):
        try:
            tables.call(
                "update_item",
                TableName=tables.records,
                Key={"pk": {"S": _DAY_BATCH}, "sk": {"S": day}},
                UpdateExpression="SET b = :b",
                ConditionExpression="attribute_not_exists(b) OR b < :b",
                ExpressionAttributeValues={":b": {"N": str(batch)}},
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise  # else a newer batch marked it already


def finish_batch(tables: DynamoTables, batch: int) -> None:
    """Record that the batch numbered ``batch`` wrote all it had and marked its days."""
    item = {"pk": {"S": _BATCH_DONE}, "sk": {"S": _batch_sk(batch)}}
    tables.call("put_item", TableName=tables.records, Item=item)


def unfinished(tables: DynamoTables, batches: Iterable[int]) -> set[int]:
    """Those of ``batches`` that never recorded their end (``finish_batch``): they
    failed after writing some of their readings, perhaps before marking their days."""
    wanted = sorted(set(batches))
    keys = [{"pk": {"S": _BATCH_DONE}, "sk": {"S": _batch_sk(b)}} for b in wanted]
    done = {item["sk"]["S"] for item in tables.get_many(tables.records, keys)}
    return {batch for batch in wanted if _batch_sk(batch) not in done}


def _batch_sk(batch: int) -> str:
    return f"{batch:020d}"


def newest_batch(tables: DynamoTables, start: int, end: int) -> int:
    """The newest batch that changed a UTC day touching start..end; 0 if none."""
    items = _day_range(tables, _DAY_BATCH, start, end, "b")
    return max((int(item["b"]["N"]) for item in items), default=0)


def _day_range(
    tables: DynamoTables, partition: str, start: int, end: int, projection: str
) -> Iterator[Item]:
    """The items of ``partition`` keyed by the UTC days touching start..end."""
    first, last = _day_sk(start // DAY_SECONDS), _day_sk(end // DAY_SECONDS)
    if first > last:
        return iter(())
    return tables.query(
        tables.records,
        KeyConditionExpression="pk = :p AND sk BETWEEN :first AND :last",
        ExpressionAttributeValues={
            ":p": {"S": partition},
            ":first": {"S": first},
            ":last": {"S": last},
        },
        ProjectionExpression=projection,
    )


def _marker(c: Conflict, batch: int) -> Item:
    registers = "#".join("-" if v is None else str(v) for v in _registers(c))
    return {
        "pk": {"S": f"conflicts#{_day_sk(c.t // DAY_SECONDS)}"},
        "sk": {"S": f"{c.meter}#{c.t}#{registers}"},
        "m": {"S": c.meter},
        "t": {"N": str(c.t)},
        "b": {"N": str(batch)},
    }


def _registers(c: Conflict) -> tuple[int | None, ...]:
    return (c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev)


_REGISTERS = ("sf", "sr", "nf", "nr")


def _entry(c: Conflict) -> Item:
    entry: Item = {"m": {"S": c.meter}, "t": {"N": str(c.t)}, "at": {"N": str(c.received_at)}}
    for name, value in zip(_REGISTERS, _registers(c), strict=True):
        entry[name] = {"NULL": True} if value is None else {"N": str(value)}
    return entry


def _conflict(item: Item) -> Conflict:
    sf, sr, nf, nr = [None if "NULL" in item[name] else int(item[name]["N"]) for name in _REGISTERS]
    return Conflict(item["m"]["S"], int(item["t"]["N"]), sf, sr, nf, nr, int(item["at"]["N"]))
