"""The PostgreSQL store's boundary registers of many meters (read in two halves at once,
packed two values in one) are those the memory store gives for the same readings: in
any order of the meters, for meters never seen, for a few meters of a wide range of keys,
for readings with a reverse register alone, and as of a batch."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import postgres_url
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.postgres_boundaries import SPLIT_FROM
from kenshin.domain.model import Reading, Watermark
from kenshin.ports import Store

pytestmark = pytest.mark.integration

T0 = 1_795_000_000 - 1_795_000_000 % 1800
METERS = [f"M-{n:05d}" for n in range(SPLIT_FROM + 500)]


@pytest.fixture
def store(tmp_path: Path, postgres_database: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url(tmp_path), create=True)
    yield opened
    opened.close()


def readings(batch: int) -> list[Reading]:
    """Each meter's readings at 7 boundaries, some missing; a reverse register on some,
    and on a few a reverse register alone. Values differ from batch to batch."""
    found = []
    for n, meter in enumerate(METERS):
        for i in range(7):
            if (n + i) % 11 == batch:
                continue  # no reading
            fwd = None if n % 13 == 0 and i % 2 else 1_000 * n + i + batch
            rev = i + batch if n % 5 == 0 or fwd is None else None
            found.append(Reading(meter, T0 + 1800 * i, fwd, rev))
    return found


def fill(stores: list[Store]) -> list[Watermark]:
    """Two batches of readings (the second completes nothing: other times) in each
    store; the watermark of each store after the first."""
    first, second = readings(0), readings(1)
    marks = []
    for store in stores:
        shifted = [Reading(r.meter, r.t + 1800 * 10, r.fwd, r.rev) for r in second]
        store.readings.add_readings(first, T0)
        marks.append(store.watermark())
        store.readings.add_readings(shifted, T0)
    return marks


def test_boundary_registers_of_many_meters_are_those_of_the_memory_store(
    store: PostgresStore,
) -> None:
    twin = MemoryStore()
    marks = fill([store, twin])
    shuffled = random.Random(7).sample(METERS, len(METERS))
    wanted = [
        METERS,  # in the order of their keys
        shuffled,  # in another order
        [*METERS[:SPLIT_FROM], "M-unknown", *METERS[SPLIT_FROM:]],  # one never seen
        METERS[::9],  # a few of a wide range of keys
        METERS[:3],  # too few to be split
    ]
    for ids in wanted:
        for start, count in ((T0, 6), (T0 - 1800, 20)):
            for as_of in (None, marks):
                ours = store.readings.boundary_registers(
                    ids, start, count, None if as_of is None else as_of[0]
                )
                theirs = twin.readings.boundary_registers(
                    ids, start, count, None if as_of is None else as_of[1]
                )
                assert ours[0].dtype == np.uint32
                assert np.array_equal(ours[0], theirs[0])
                assert np.array_equal(ours[1], theirs[1])
