"""The commit queue: a payload is answered only once its batch is stored."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterable
from contextlib import closing
from functools import partial
from pathlib import Path

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Customer, Device
from kenshin.entrypoints.scheduled import writable_now
from kenshin.services.batching import CommitError, CommitQueue
from kenshin.services.ingest import Incoming, Ingest, IngestSummary

T = 1_795_964_400  # 2026-11-30 00:00 in Asia/Tokyo


def message(seq: int, fwd: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "device": "U-1",
            "seq": seq,
            "sent": "2026-11-30T00:00:04+09:00",
            "meters": [
                {
                    "meter": "M-1",
                    "unit": "0.1kWh",
                    "coefficient": 1,
                    "digits": 6,
                    "readings": [
                        {"t": f"2026-11-30T{seq // 2:02d}:{seq % 2 * 30:02d}:00+09:00", "fwd": fwd}
                    ],
                }
            ],
        }
    ).encode()


def registered_store() -> MemoryStore:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "Acme"))
    store.registry.add_device(Device("U-1", "C-1"))
    return store


class RecordingIngest(Ingest):
    """Ingest that records each batch it was given, and can be made to fail."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self.batches: list[int] = []
        self.fail = False

    def ingest(
        self, batch: Iterable[Incoming], summary: IngestSummary | None = None
    ) -> IngestSummary:
        items = list(batch)
        self.batches.append(len(items))
        if self.fail:
            raise OSError("disk full")
        return super().ingest(items, summary)


def incoming(seq: int) -> Incoming:
    return Incoming(f"test:{seq}", message(seq, 100 + seq), T + 86_400, device="U-1")


def test_every_payload_returns_after_its_batch_is_stored() -> None:
    store = registered_store()
    ingest = RecordingIngest(store)

    async def scenario() -> list[int]:
        queue = CommitQueue(ingest, max_messages=5, window_s=0.05)
        runner = asyncio.create_task(queue.run())
        stored_when_answered = []

        async def send(seq: int) -> None:
            await queue.submit(incoming(seq))
            readings = dict(store.readings.readings_between(["M-1"], T, T + 86_400)).get("M-1", [])
            stored_when_answered.append(len([r for r in readings if r.fwd == 100 + seq]))

        await asyncio.gather(*(send(seq) for seq in range(12)))
        await queue.close()
        await runner
        return stored_when_answered

    answered = asyncio.run(scenario())
    assert answered == [1] * 12  # each reading was in the store when its sender was answered
    assert sum(ingest.batches) == 12
    assert max(ingest.batches) <= 5
    assert len(ingest.batches) < 12  # gathered into batches, not one by one


def test_a_failed_commit_answers_nobody_with_success() -> None:
    ingest = RecordingIngest(registered_store())
    ingest.fail = True

    async def scenario() -> list[BaseException | None]:
        queue = CommitQueue(ingest, max_messages=10, window_s=0.01)
        runner = asyncio.create_task(queue.run())
        results = await asyncio.gather(
            *(queue.submit(incoming(n)) for n in range(3)), return_exceptions=True
        )
        await queue.close()
        await runner
        return list(results)

    results = asyncio.run(scenario())
    assert all(isinstance(r, CommitError) and "disk full" in str(r) for r in results)


def test_what_was_queued_before_close_is_still_committed() -> None:
    store = registered_store()
    ingest = RecordingIngest(store)

    async def scenario() -> None:
        queue = CommitQueue(ingest, max_messages=100, window_s=0.2)
        runner = asyncio.create_task(queue.run())
        sent = [asyncio.create_task(queue.submit(incoming(n))) for n in range(4)]
        async with asyncio.timeout(5):  # all four queued, the window still open
            while queue.waiting < 4:
                await asyncio.sleep(0)
        await queue.close()
        await asyncio.gather(*sent)
        await runner
        with pytest.raises(CommitError, match="shutting down"):
            await queue.submit(incoming(9))

    asyncio.run(scenario())
    readings = dict(store.readings.readings_between(["M-1"], T, T + 86_400))["M-1"]
    assert [r.fwd for r in readings] == [100, 101, 102, 103]


def test_a_batch_that_would_wait_for_another_writer_leaves_the_loop_free(
    tmp_path: Path,
) -> None:
    """Committing in the loop's thread (endpoint processes) while another process holds
    the database's write lock: the batch waits in the writer thread, and the loop goes on
    answering meanwhile; with the lock free, the next batch is committed in the loop."""
    store = SqliteStore(tmp_path / "kenshin.db")
    store.registry.add_customer(Customer("C-1", "Acme"))
    store.registry.add_device(Device("U-1", "C-1"))
    threads: list[str] = []

    class Ingesting(Ingest):
        def ingest(
            self, batch: Iterable[Incoming], summary: IngestSummary | None = None
        ) -> IngestSummary:
            threads.append(threading.current_thread().name)
            return super().ingest(batch, summary)

    async def scenario(other: sqlite3.Connection) -> None:
        queue = CommitQueue(
            Ingesting(store), max_messages=10, window_s=0.01, in_loop=partial(writable_now, store)
        )
        runner = asyncio.create_task(queue.run())
        other.execute("BEGIN IMMEDIATE")  # another process writing
        sent = asyncio.create_task(queue.submit(incoming(1)))
        turns = 0
        async with asyncio.timeout(5):
            while turns < 20:  # the loop turns while the batch waits for the lock
                await asyncio.sleep(0.01)
                turns += 1
        assert not sent.done()
        other.execute("COMMIT")
        async with asyncio.timeout(10):
            await sent
            await queue.submit(incoming(2))
        await queue.close()
        await runner

    try:
        with closing(sqlite3.connect(tmp_path / "kenshin.db", isolation_level=None)) as other:
            asyncio.run(scenario(other))
        stored = dict(store.readings.readings_between(["M-1"], T, T + 86_400))["M-1"]
        assert [r.fwd for r in stored] == [101, 102]
        assert threads[0].startswith("kenshin-commit")
        assert threads[1] == threading.main_thread().name
    finally:
        store.close()
