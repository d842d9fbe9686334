"""Units' status messages: the latest of each unit kept in memory, stored in batches.

A status message (topic dt/kenshin/{id}/status) replaces the unit's earlier one,
stored or not: whatever a unit sends, the endpoint holds one status per unit
(each at most MAX_PAYLOAD_BYTES). One flusher stores those not yet stored in one
transaction every FLUSH_S, or as soon as FLUSH_COUNT are waiting, for 'kenshin
devices list' and the report. As for readings at their commit, the store is asked
for revocations just before: a status sent with a certificate revoked by then is
not stored (nor is one sent with a certificate known to be revoked kept at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from kenshin.ports import Store
from kenshin.services.ingest import REVOCATION_LOOK_BACK_S

log = logging.getLogger(__name__)

FLUSH_S = 1.0  # at most this long between a status message and its storing
FLUSH_COUNT = 1000  # ... or stored as soon as this many units' statuses are waiting


class StatusKeeper:
    """The latest status of each unit (``latest``), stored from ``start`` to ``stop``."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        # The latest status payload of each unit and when it came: for monitoring.
        self.latest: dict[str, tuple[int, bytes]] = {}
        self._unsent: dict[str, int] = {}  # device: the certificate serial it sent with
        self._revoked: set[int] = set()  # certificate serials, as of the last look
        self._revoked_since: int | None = None  # from when the next look asks
        self._due = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many units' statuses are not stored yet."""
        return len(self._unsent)

    def offer(self, device: str, serial: int, at: int, payload: bytes) -> None:
        """A status message of ``device``, received at ``at`` with certificate ``serial``."""
        if serial in self._revoked:
            return
        self.latest[device] = (at, payload)
        self._unsent[device] = serial
        if len(self._unsent) >= FLUSH_COUNT:
            self._due.set()

    def start(self) -> None:
        """Store the waiting statuses every FLUSH_S (or sooner when many), until ``stop``."""
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Store what still waits; then no more."""
        self._stopping = True
        self._due.set()
        if self._runner is not None:
            await self._runner

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), FLUSH_S)
            self._due.clear()
            await self.flush()
        await self.flush()  # what came during the last

    async def flush(self) -> None:
        """Store the statuses waiting, in one transaction; a failure is logged and they
        wait for the next flush (unless newer ones came meanwhile)."""
        if not self._unsent:
            return
        batch = {device: (serial, *self.latest[device]) for device, serial in self._unsent.items()}
        self._unsent.clear()
        try:
            await asyncio.to_thread(self._store_batch, batch)
        except Exception:  # the store may be busy: try again at the next flush
            log.exception("cannot store the status of %d units", len(batch))
            for device, (serial, _, _) in batch.items():
                self._unsent.setdefault(device, serial)

    def _store_batch(self, batch: dict[str, tuple[int, int, bytes]]) -> None:
        """In a worker thread: leave out the statuses sent with a certificate revoked by
        now, store the rest in one transaction."""
        now = int(self._clock())
        # A revocation is dated before it is committed, maybe by another process: look back.
        self._revoked |= self._store.certificates.revoked_serials(self._revoked_since)
        self._revoked_since = now - REVOCATION_LOOK_BACK_S
        kept = {
            device: (at, payload)
            for device, (serial, at, payload) in batch.items()
            if serial not in self._revoked
        }
        if kept:
            self._store.unit_clocks.save_statuses(kept)
