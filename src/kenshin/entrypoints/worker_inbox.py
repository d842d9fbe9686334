"""What a worker does with each message the broker hands it: readings and ECHONET Lite
frames go to the commit queue, status messages are kept in batches; each message is
acknowledged to the broker only once it is stored, in the order the messages came
(MQTT-4.6.0-2).

The device is the topic's: the broker lets a unit publish only under its own id. A
message that cannot be stored (the store down) is not acknowledged; the link is then
dropped and made again after a pause, so that the broker sends everything not
acknowledged again, and storage is idempotent: a reading stored twice counts once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass

from kenshin.domain.cluster import Delivery, unit_topic
from kenshin.ports import UnitClocks
from kenshin.ports.broker import UnitMessages
from kenshin.services.batching import CommitError, CommitQueue
from kenshin.services.incoming import Incoming

log = logging.getLogger(__name__)

STATUS_SUFFIX = "status"
STATUS_FLUSH_S = 1.0  # status messages are stored at most this long after they came
REDELIVER_FIRST_S, REDELIVER_MAX_S = 1.0, 30.0  # pause before asking for messages again


@dataclass(slots=True)
class _Pending:
    """A message received, in the order of arrival; ``state`` None until it is stored
    (True) or could not be (False)."""

    ticket: tuple[int, int]
    received_at: int
    state: bool | None = None


class Inbox:
    """Takes the broker's deliveries (from paho's thread) onto the event loop."""

    def __init__(self, commits: CommitQueue, clocks: UnitClocks) -> None:
        self._commits = commits
        self._clocks = clocks
        self._link: UnitMessages | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._order: deque[_Pending] = deque()
        self._statuses: dict[str, tuple[int, bytes]] = {}
        self._status_pending: list[_Pending] = []
        self._closed = False
        self._failures = 0  # batches failed in a row
        self._redelivering: asyncio.Task[None] | None = None
        # Deliveries from paho's thread, taken on the loop in bursts: one wake-up of the
        # loop for all that came meanwhile, not a wake-up (a system call) per message.
        self._arrived: deque[Delivery] = deque()
        self._wake_pending = False
        self.counts: Counter[str] = Counter()

    def attach(self, loop: asyncio.AbstractEventLoop, link: UnitMessages) -> None:
        """Deliveries go to ``loop``; acknowledgements to ``link``."""
        self._loop, self._link = loop, link

    def deliver(self, delivery: Delivery) -> None:
        """Called by the link in paho's thread."""
        if self._loop is None:
            return
        self._arrived.append(delivery)  # deque.append is atomic: no lock needed
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._take_arrived)

    def _take_arrived(self) -> None:
        """On the loop: take what paho's thread delivered, in order of arrival."""
        self._wake_pending = False  # before taking: what comes from now on wakes again
        arrived = self._arrived
        while arrived:
            self._take(arrived.popleft())

    @property
    def lag_s(self) -> float:
        """How long the oldest message not yet stored has waited (0: none waits)."""
        if not self._order:
            return 0.0
        return max(0.0, time.time() - self._order[0].received_at)

    @property
    def waiting(self) -> int:
        """Messages received and not yet acknowledged."""
        return len(self._order)

    def close(self) -> None:
        """Take nothing more: what comes now is not acknowledged and comes again later."""
        self._closed = True

    def _take(self, delivery: Delivery) -> None:
        if self._closed:
            return
        self.counts["received"] += 1
        pending = _Pending(delivery.ticket, delivery.received_at)
        self._order.append(pending)
        device, suffix = unit_topic(delivery.topic) or ("", "")
        if not device:  # the subscriptions name only units' topics
            log.warning("a message on %r is not a unit's: dropped", delivery.topic)
            self._settle(pending, ok=True)
            return
        if suffix == STATUS_SUFFIX:
            self._statuses[device] = (delivery.received_at, delivery.payload)
            self._status_pending.append(pending)
            return
        item = Incoming(
            f"mqtt:{device}",
            delivery.payload,
            delivery.received_at,
            suffix,
            device,
            connected_at=delivery.connected_at,
        )
        try:
            self._commits.offer(item, lambda error: self._answered(pending, error))
        except CommitError:  # shutting down: not acknowledged, sent again later
            self._order.remove(pending)

    def _answered(self, pending: _Pending, error: CommitError | None) -> None:
        self._settle(pending, ok=error is None)

    def _settle(self, pending: _Pending, *, ok: bool) -> None:
        pending.state = ok
        if ok:
            self.counts["stored"] += 1
            self._failures = 0
        else:
            self.counts["not stored"] += 1
            self._ask_again()
        acks = []
        while self._order and self._order[0].state is not None:
            done = self._order.popleft()
            if done.state:
                acks.append(done.ticket)
        if acks and self._link is not None:
            self._link.ack(acks)

    def _ask_again(self) -> None:
        """After a pause (longer after each failure in a row), drop the link and connect
        again: the broker then sends every message not acknowledged again."""
        if self._redelivering is not None and not self._redelivering.done():
            return
        self._failures += 1
        pause = min(REDELIVER_MAX_S, REDELIVER_FIRST_S * 2 ** (self._failures - 1))
        self._redelivering = asyncio.get_running_loop().create_task(self._redeliver(pause))

    async def _redeliver(self, pause: float) -> None:
        await asyncio.sleep(pause)  # the store had failed: give it time, not a busy loop
        if self._link is not None and not self._closed:
            log.warning("asking the broker for the messages not stored again")
            self.counts["asked again"] += 1
            await asyncio.to_thread(self._link.redeliver)

    async def keep_statuses(self, stop: asyncio.Event) -> None:
        """Store the units' status messages every STATUS_FLUSH_S until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_FLUSH_S)
            await self.flush_statuses()

    async def flush_statuses(self) -> None:
        """Store the latest status of each unit that sent one, then acknowledge them."""
        if not self._status_pending:
            return
        batch, waiting = self._statuses, self._status_pending
        self._statuses, self._status_pending = {}, []
        try:
            await asyncio.to_thread(self._clocks.save_statuses, batch)
        except Exception:  # the store may be down: they come again
            log.exception("cannot store the status of %d units", len(batch))
            for pending in waiting:
                self._settle(pending, ok=False)
            return
        for pending in waiting:
            self._settle(pending, ok=True)

    async def stopped(self) -> None:
        """Wait for a request for messages again under way, if any."""
        if self._redelivering is not None:
            self._redelivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._redelivering
