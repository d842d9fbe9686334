"""Batched commits for live payloads: acknowledge a payload only once it is stored.

Connections hand their payloads to one ``CommitQueue``; it gathers them into
batches (up to ``max_messages``, or what came within ``window_s`` of the first)
and has ``Ingest`` store each batch in one transaction, in a worker thread so
that the event loop keeps serving connections. Each ``submit`` returns only when
its batch is committed: readings stored, or the payload kept as a dead letter.
If the commit fails, every payload of the batch gets the error, and the sender
must not be acknowledged: it will send again, and storage is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kenshin.errors import KenshinError
from kenshin.services.ingest import Incoming, Ingest, IngestSummary

log = logging.getLogger(__name__)


class CommitError(KenshinError):
    """A batch could not be committed; nothing of it may be acknowledged."""


@dataclass(slots=True)
class _Pending:
    item: Incoming
    done: asyncio.Future[None]


@dataclass(slots=True)
class CommitStats:
    """What the queue has committed so far."""

    batches: int = 0
    messages: int = 0


class CommitQueue:
    """Gathers payloads from many senders and commits them in batches, in order."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        max_messages: int,
        window_s: float,
        on_commit: Callable[[IngestSummary], None] | None = None,
    ) -> None:
        self._ingest = ingest
        self._max = max_messages
        self._window = window_s
        self._on_commit = on_commit
        # Bounded: when the store falls behind, senders wait, and so do their sockets.
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=4 * max_messages)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenshin-commit")
        self._closed = False
        self.stats = CommitStats()

    async def submit(self, item: Incoming) -> None:
        """Queue ``item``; return once it is committed. CommitError if that failed."""
        if self._closed:
            raise CommitError("the server is shutting down: nothing more is accepted")
        pending = _Pending(item, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        await pending.done

    async def run(self) -> None:
        """Commit batches until ``close`` has been called and the queue is empty."""
        while True:
            first = await self._queue.get()
            if first is None:
                break
            batch, stop = await self._gather(first)
            await self._commit(batch)
            if stop:
                break
        self._writer.shutdown(wait=True)

    async def close(self) -> None:
        """Accept nothing more; what was queued is still committed before ``run`` ends."""
        if not self._closed:
            self._closed = True
            await self._queue.put(None)

    async def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """``first`` and what else is queued after the window; True if close() came."""
        batch = [first]
        if self._queue.qsize() < self._max - 1:
            await asyncio.sleep(self._window)  # let the batch fill while others send
        while len(batch) < self._max:
            try:
                nxt = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if nxt is None:  # close() was called: commit what is here, then stop
                return batch, True
            batch.append(nxt)
        return batch, False

    async def _commit(self, batch: list[_Pending]) -> None:
        items = [p.item for p in batch]
        loop = asyncio.get_running_loop()
        try:
            summary = await loop.run_in_executor(self._writer, self._ingest.ingest, items)
        except Exception as exc:  # every failure must reach the senders
            log.exception("commit of %d payloads failed; none is acknowledged", len(batch))
            error = CommitError(f"the batch could not be stored: {exc}")
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(error)
            return
        self.stats.batches += 1
        self.stats.messages += len(batch)
        if self._on_commit is not None:
            self._on_commit(summary)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(None)
