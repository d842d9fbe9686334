"""The DynamoDB readings where the contract suite cannot reach: another writer coming
first between a batch's read and its write, a batch failing half way, and bulk reads
over many BatchGetItems. On moto, in process (the integration tier: a millisecond a call)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import numpy as np
import pytest

from kenshin.adapters.dynamo_readings import DynamoDeadLetters, DynamoReadings
from kenshin.adapters.dynamo_tables import DynamoTables
from kenshin.adapters.memory import MemoryStore
from kenshin.domain.model import Conflict, DeadLetter, Reading, StoreResult, Watermark
from kenshin.errors import StoreError
from moto_s3 import moto_dynamodb

T0 = 1_795_964_400  # 2026-11-30 00:00 in Asia/Tokyo, 15:00 UTC
WRITES = ("put_item", "update_item")


class Meddling:
    """A boto3 DynamoDB client that runs ``before`` ahead of a write to the readings
    table: the ``at``-th (1: the first)."""

    def __init__(self, client: Any, before: Callable[[], object], at: int = 1) -> None:
        self._client, self._before, self._at = client, before, at
        self._writes = count(1)  # next() is atomic: the writes of a batch come in threads

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in WRITES:
            return call

        def meddled(**request: Any) -> Any:
            if request["TableName"].endswith("readings") and next(self._writes) == self._at:
                self._before()
            return call(**request)

        return meddled


@pytest.fixture
def client() -> Iterator[Any]:
    """A boto3 DynamoDB client on moto, with the tables of the prefix ``t-``."""
    with moto_dynamodb("t-") as client:
        yield client


def readings(client: Any) -> DynamoReadings:
    return DynamoReadings(DynamoTables.open("dynamodb://t-", client))


def held(store: DynamoReadings, meter: str = "M1") -> list[tuple[int, int | None]]:
    """(t, fwd) of the meter's readings around T0."""
    found = dict(store.readings_between([meter], T0 - 86_400, T0 + 86_400))
    return [(r.t, r.fwd) for r in found.get(meter, [])]


@pytest.mark.parametrize("stored_before", [False, True], ids=["new day", "day stored"])
def test_a_writer_that_came_first_is_settled_against_never_overwritten(
    client: Any, stored_before: bool
) -> None:
    other = readings(client)
    if stored_before:
        other.add_readings([Reading("M1", T0 + 5400, 110, None)], T0)
    first = [Reading("M1", T0, 101, None), Reading("M1", T0 + 3600, 108, None)]
    store = readings(Meddling(client, lambda: other.add_readings(first, T0 + 1)))
    result = store.add_readings(
        [Reading("M1", T0, 100, None), Reading("M1", T0 + 1800, 104, None)], T0 + 2
    )
    # Settled against what the other writer stored: its reading at T0 was there first.
    assert result == StoreResult(
        stored=1, conflicts=(Conflict("M1", T0, 101, None, 100, None, T0 + 2),)
    )
    expected = [(T0, 101), (T0 + 1800, 104), (T0 + 3600, 108)]
    assert held(store) == expected + ([(T0 + 5400, 110)] if stored_before else [])
    assert store.list_conflicts() == list(result.conflicts)


def test_a_batch_that_fails_half_way_says_its_day_changed_and_storing_it_again_ends_it(
    client: Any,
) -> None:
    store = readings(client)
    store.add_readings([Reading("M0", T0, 1, None)], T0)
    before = Watermark(store.last_batch(), 0)

    def refuse() -> None:
        error = {"Error": {"Code": "InternalServerError", "Message": "refused"}}
        raise client.exceptions.InternalServerError(error, "PutItem")

    failing = readings(Meddling(client, refuse, at=2))
    batch = [Reading(m, T0, 5, None) for m in ("M1", "M2", "M3")]
    with pytest.raises(StoreError, match="InternalServerError"):
        failing.add_readings(batch, T0)
    assert sum(len(held(store, m)) for m in ("M1", "M2", "M3")) == 2  # one day's write failed
    # A file made as of before the batch is made again, though the batch never ended...
    assert store.newest_batch(T0, T0) > before.batch
    # ... and the batch stored again stores what it had not.
    assert store.add_readings(batch, T0) == StoreResult(stored=1, duplicates=2)
    assert [held(store, m) for m in ("M1", "M2", "M3")] == [[(T0, 5)]] * 3


def test_boundary_registers_of_many_meters_in_any_order_and_as_of_a_watermark(
    client: Any,
) -> None:
    store, twin = readings(client), MemoryStore().readings
    meters = [f"M{n:03d}" for n in range(260)]  # with two days each: six BatchGetItems
    first = [
        Reading(m, T0 + 1800 * i, 10 * n + i, n % 3 or None)
        for n, m in enumerate(meters)
        for i in range(0, 49, 2)
    ]
    for batch in (
        first,
        [Reading(m, T0 + 1800 * i, 5000 + i, 1) for m in meters[::7] for i in range(1, 49, 2)],
    ):
        assert store.add_readings(batch, T0) == twin.add_readings(batch, T0)
        if batch is first:
            mark = Watermark(store.last_batch(), 0)
            twin_mark = Watermark(twin.last_batch(), 0)
    asked = [*meters[::-1], "M-unknown", meters[5]]  # one listed twice
    for as_of, twin_as_of in ((None, None), (mark, twin_mark)):
        found = store.boundary_registers(asked, T0, 48, as_of)
        expected = twin.boundary_registers(asked, T0, 48, twin_as_of)
        assert [a.tolist() for a in found] == [a.tolist() for a in expected]
        assert found[0].dtype == np.uint32
    assert store.boundary_registers(asked, T0, 48)[0][0, 1] == 5001  # M259 is a 7th
    assert store.boundary_registers(asked, T0, 48, mark)[0][0, 1] == 0xFFFFFFFF


class SecondMarkFails:
    """A boto3 DynamoDB client whose mark of a day's newest batch after the ``after``-th
    fails (a batch marks its days before and after writing)."""

    def __init__(self, client: Any, after: int = 1) -> None:
        self._client, self._marks, self._failing = client, count(1), after + 1

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != "update_item":
            return call

        def failing(**request: Any) -> Any:
            marking = request["Key"]["pk"]["S"] == "day-batch"
            if marking and next(self._marks) == self._failing:
                error = {"Error": {"Code": "InternalServerError", "Message": "refused"}}
                raise self._client.exceptions.InternalServerError(error, "UpdateItem")
            return call(**request)

        return failing


@pytest.mark.parametrize("meanwhile", [False, True], ids=["alone", "another batch meanwhile"])
def test_a_batch_that_fails_before_its_last_mark_marks_its_day_when_stored_again(
    client: Any, meanwhile: bool
) -> None:
    store = readings(client)
    batch = [Reading(m, T0, 5, None) for m in ("M1", "M2")]
    files: list[Watermark] = []  # a file made while the batch was half written

    def file_made() -> None:
        if meanwhile:  # another batch of the day ends first: the day's mark moves past
            store.add_readings([Reading("M9", T0, 7, None)], T0)
        files.append(store_mark(store))

    half = Meddling(SecondMarkFails(client), file_made, at=2)
    with pytest.raises(StoreError, match="InternalServerError"):
        readings(half).add_readings(batch, T0)
    [made] = files
    assert [held(store, m) for m in ("M1", "M2")] == [[(T0, 5)]] * 2  # all written
    assert store.newest_batch(T0, T0) <= made.batch  # the file would stay as it was...
    # ... until the batch comes again: all duplicates, yet the day is marked anew.
    assert store.add_readings(batch, T0) == StoreResult(duplicates=2)
    assert store.newest_batch(T0, T0) > made.batch
    # A day confirmed is not marked again by duplicates.
    newest = store.newest_batch(T0, T0)
    assert store.add_readings(batch, T0) == StoreResult(duplicates=2)
    assert store.newest_batch(T0, T0) == newest


def store_mark(store: DynamoReadings) -> Watermark:
    return Watermark(store.last_batch(), 0)


def test_a_day_of_readings_too_large_for_one_item_is_refused_naming_the_meter_and_day(
    client: Any,
) -> None:
    store = readings(client)
    day = T0 - T0 % 86_400
    every_5_s = [Reading("M1", day + 5 * i, i, None) for i in range(14_000)]
    with pytest.raises(StoreError, match=r"meter M1 on 2026-11-29 \(UTC\) would be 392000 bytes"):
        store.add_readings(every_5_s, T0)
    assert held(store) == []
    store.add_readings(every_5_s[:13_000], T0)  # 364,000 bytes: one item holds them
    assert len(dict(store.readings_between(["M1"], day, day + 86_399))["M1"]) == 13_000


class Queries:
    """A boto3 DynamoDB client that notes the partition of every Query."""

    def __init__(self, client: Any) -> None:
        self._client, self.partitions = client, list[str]()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != "query":
            return call

        def noted(**request: Any) -> Any:
            values = request["ExpressionAttributeValues"]
            self.partitions.append(next(v["S"] for k, v in values.items() if "S" in v))
            return call(**request)

        return noted


def test_dead_letters_since_a_time_are_counted_and_read_without_reading_the_others(
    client: Any,
) -> None:
    seen = Queries(client)
    letters = DynamoDeadLetters(DynamoTables.open("dynamodb://t-", seen))
    kept = [DeadLetter("mqtt", f"bad {n}", b"x" * 1000, T0 + n, "U-1") for n in range(5)]
    letters.add_dead_letters([*kept, kept[0]])  # the first twice: kept once
    assert letters.count_dead_letters() == 5
    assert letters.count_dead_letters(since=T0 + 3) == 2
    assert letters.list_dead_letters(since=T0 + 3) == kept[3:]
    assert letters.list_dead_letters(limit=1, since=T0 + 1) == kept[1:2]
    # The letters by time (small items) were queried, never the letters with payloads.
    assert set(seen.partitions) == {"dead-letter-at"}
