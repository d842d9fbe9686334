"""A session's PUBACKs: in the order the PUBLISHes came, each once its payload is stored.

A PUBLISH whose payload goes to the commit queue is answered when its batch is
committed; one that needs no commit (a status, a refused topic) when those before
it are. The PUBACKs that become ready together leave in one write, one TLS record.
If a commit fails, nothing more is acknowledged: the unit keeps those messages and
sends them again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from kenshin.entrypoints.mqtt.codec import PubAck, encode
from kenshin.entrypoints.mqtt.reasons import NORMAL
from kenshin.services.batching import Answer, CommitError

_PUBACK = b"\x40\x02"  # a PUBACK with reason code 0, at both levels: then the packet id


class _Ack:
    """One PUBLISH: its packet id (None: QoS 0, nothing to send), reason, and readiness."""

    __slots__ = ("code", "packet_id", "ready")

    def __init__(self, packet_id: int | None, code: int, ready: bool) -> None:
        self.packet_id = packet_id
        self.code = code
        self.ready = ready


class Acknowledgements:
    """The PUBACKs a session owes, sent in order through ``write``."""

    __slots__ = ("_acks", "_due", "_on_failure", "_settled", "_write", "failed", "level")

    def __init__(
        self, write: Callable[[bytes], None], on_failure: Callable[[CommitError], None]
    ) -> None:
        self._write = write
        self._on_failure = on_failure
        self._acks: deque[_Ack] | None = None  # while some are owed (an idle unit: none)
        self._due = False  # a send is scheduled for this loop turn
        self.failed = False
        self._settled: asyncio.Future[None] | None = None
        self.level = 4

    def answered(self, packet_id: int | None, code: int = NORMAL) -> None:
        """A PUBLISH that needs no commit: its PUBACK goes once those before it have."""
        self._owed().append(_Ack(packet_id, code, ready=True))
        self._schedule()

    def after_commit(self, packet_id: int | None) -> Answer:
        """A PUBLISH whose payload is being committed; what the commit queue calls."""
        ack = _Ack(packet_id, NORMAL, ready=False)
        self._owed().append(ack)
        return lambda error: self._committed(ack, error)

    def _owed(self) -> deque[_Ack]:
        if self._acks is None:
            self._acks = deque()
        return self._acks

    def fail(self, error: CommitError) -> None:
        """Acknowledge nothing more; tell the session once."""
        if self.failed:
            return
        self.failed = True
        self._acks = None
        self._settle()
        self._on_failure(error)

    async def settled(self) -> None:
        """Wait until every PUBLISH received is acknowledged, or a commit failed."""
        if self._acks and not self.failed:
            self._settled = asyncio.get_running_loop().create_future()
            await self._settled

    def _committed(self, ack: _Ack, error: CommitError | None) -> None:
        if error is not None:
            self.fail(error)
        elif not self.failed:
            ack.ready = True
            self._schedule()

    def _schedule(self) -> None:
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._due = False
        if self.failed:
            return
        acks, out = self._acks, []
        while acks and acks[0].ready:
            ack = acks.popleft()
            if ack.packet_id is None:
                continue
            if ack.code == NORMAL:
                out.append(_PUBACK + ack.packet_id.to_bytes(2, "big"))
            else:
                out.append(encode(PubAck(ack.packet_id, ack.code), self.level))
        if out:
            self._write(b"".join(out))
        if not acks:
            self._acks = None
            self._settle()

    def _settle(self) -> None:
        if self._settled is not None and not self._settled.done():
            self._settled.set_result(None)
