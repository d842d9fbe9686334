"""Batched commits for live payloads: acknowledge a payload only once it is stored.

Connections hand their payloads to one ``CommitQueue``; it gathers them into
batches and has ``Ingest`` store each batch in one transaction, in a worker
thread so that the event loop keeps serving connections. This is group commit:
a batch starts as soon as the writer is free, with what has queued meanwhile (up
to ``max_messages``), so a lone payload waits for no timer and a busy store gets
large batches; ``window_s`` is the longest a batch may wait to fill, and no
batch waits longer. A payload is answered only when its batch is committed:
readings stored, or the payload kept as a dead letter. If the commit fails,
every payload of the batch gets the error, and the sender must not be
acknowledged: it will send again, and storage is idempotent. A payload whose
sender's certificate is revoked by the time its batch is stored is left out of
it and gets ``CertificateRevoked``: nothing a unit sends after its revocation is
stored or acknowledged.

``offer(item, answer)`` queues without waiting and calls ``answer(None)`` or
``answer(CommitError)`` on the loop once the batch is done; ``room`` waits while
the queue is full (senders then stop reading their sockets). ``submit`` does both
for one payload and returns once it is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from kenshin.errors import KenshinError
from kenshin.services.ingest import Incoming, Ingest, IngestSummary

log = logging.getLogger(__name__)

Answer = Callable[["CommitError | None"], None]


class CommitError(KenshinError):
    """A batch could not be committed; nothing of it may be acknowledged."""


class CertificateRevoked(CommitError):
    """The payload's sender's certificate is revoked: it is not stored, nor acknowledged."""


class Commits(Protocol):
    """What a connection needs of the commit queue (``CommitQueue``, or in an endpoint
    process the link to the server's)."""

    def offer(self, item: Incoming, answer: Answer) -> None:
        """Queue ``item``; ``answer`` is called once its batch is committed (or failed)."""

    def full(self) -> bool:
        """Whether senders should wait (``room``) before offering more."""

    async def room(self) -> None:
        """Wait until there is room again."""


@dataclass(slots=True)
class CommitStats:
    """What the queue has received and committed so far."""

    received: int = 0  # payloads offered
    batches: int = 0
    messages: int = 0
    failed_batches: int = 0  # each failed as a whole: none of its payloads acknowledged


class CommitQueue:
    """Gathers payloads from many senders and commits them in batches, in order."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        max_messages: int,
        window_s: float,
        on_commit: Callable[[IngestSummary], None] | None = None,
        on_latency: Callable[[float], None] | None = None,
        in_loop: Callable[[], bool] | None = None,
    ) -> None:
        """``in_loop``: commit in the event loop's thread, not a writer thread of its own,
        whenever ``in_loop()`` says the store can be written at once: where connections
        are served by other processes (``mqtt.processes``), the loop only passes payloads
        on, and a second busy thread would make both wait for the interpreter lock more
        than it saves. A batch that would wait for the store (another writer holds it)
        goes to the writer thread, so that the loop still answers meanwhile."""
        self._ingest = ingest
        self._max = max_messages
        self._window = window_s
        self._on_commit = on_commit
        self._on_latency = on_latency  # seconds each batch took to commit (or to fail)
        # Bounded: when the store falls behind, senders wait, and so do their sockets.
        self._limit = 4 * max_messages
        self._queue: deque[tuple[Incoming, Answer]] = deque()
        self._wakeup: asyncio.Future[None] | None = None  # the runner, waiting for work
        self._room: asyncio.Future[None] | None = None  # senders waiting for room
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenshin-commit")
        self._in_loop = in_loop
        self._closed = False
        self.stats = CommitStats()

    def offer(self, item: Incoming, answer: Answer) -> None:
        """Queue ``item``; ``answer`` is called once its batch is committed (or failed)."""
        if self._closed:
            raise CommitError("the server is shutting down: nothing more is accepted")
        self._queue.append((item, answer))
        self.stats.received += 1
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    @property
    def waiting(self) -> int:
        """Payloads queued for a batch, not yet being committed."""
        return len(self._queue)

    def full(self) -> bool:
        """Whether senders should wait (``room``) before offering more."""
        return len(self._queue) >= self._limit

    async def room(self) -> None:
        """Wait until the queue is not full."""
        while self.full() and not self._closed:
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)

    async def submit(self, item: Incoming) -> None:
        """Queue ``item``; return once it is committed. CommitError if that failed."""
        if self._closed:
            raise CommitError("the server is shutting down: nothing more is accepted")
        await self.room()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.offer(item, lambda error: _settle(done, error))
        await done

    async def run(self) -> None:
        """Commit batches until ``close`` has been called and the queue is empty."""
        loop = asyncio.get_running_loop()
        try:
            while self._queue or not self._closed:
                if not self._queue:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    continue
                if len(self._queue) < self._max and self._window > 0:
                    await asyncio.sleep(0)  # what this loop turn received joins the batch
                await self._commit(self._take())
                if self._in_loop is not None:
                    await asyncio.sleep(0)  # the answers leave, and the links are read
        finally:
            self._writer.shutdown(wait=True)

    async def close(self) -> None:
        """Accept nothing more; what was queued is still committed before ``run`` ends."""
        self._closed = True
        for future in (self._wakeup, self._room):
            if future is not None and not future.done():
                future.set_result(None)

    def _take(self) -> list[tuple[Incoming, Answer]]:
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(self._max, len(queue)))]
        if self._room is not None and not self._room.done() and not self.full():
            self._room.set_result(None)
        return batch

    async def _commit(self, batch: list[tuple[Incoming, Answer]]) -> None:
        items = [item for item, _ in batch]
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            if self._in_loop is not None and self._in_loop():
                summary, revoked = self._store(items)
            else:
                summary, revoked = await loop.run_in_executor(self._writer, self._store, items)
        except Exception as exc:  # every failure must reach the senders
            self.stats.failed_batches += 1
            self._timed(started)
            log.exception("commit of %d payloads failed; none is acknowledged", len(batch))
            error = CommitError(f"the batch could not be stored: {exc}")
            for _, answer in batch:
                answer(error)
            return
        self.stats.batches += 1
        self.stats.messages += len(batch) - len(revoked)
        self._timed(started)
        if self._on_commit is not None:
            self._on_commit(summary)
        for i, (_, answer) in enumerate(batch):
            if i in revoked:
                answer(CertificateRevoked("its certificate is revoked: not stored"))
            else:
                answer(None)

    def _store(self, items: list[Incoming]) -> tuple[IngestSummary, set[int]]:
        """Store what may be stored (in the writer thread); the positions of the payloads
        whose senders' certificates are revoked, which are not."""
        revoked = self._ingest.revoked(items)
        if revoked:
            items = [item for i, item in enumerate(items) if i not in revoked]
        return self._ingest.ingest(items), revoked

    def _timed(self, started: float) -> None:
        if self._on_latency is not None:
            self._on_latency(time.perf_counter() - started)


def _settle(done: asyncio.Future[None], error: CommitError | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
