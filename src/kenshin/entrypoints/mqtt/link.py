"""The link between ``kenshin serve`` and its endpoint processes: frames over a socket pair.

Each frame is a MessagePack array, preceded by its length (4 bytes, big-endian). What
one loop turn sends leaves in one write: a busy endpoint process hands over hundreds of
payloads a turn, and one system call each would cost more than the payloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec

log = logging.getLogger(__name__)

Frame = list[Any]

_HEADER = 4
SERIAL_BYTES = 20  # a certificate's serial number (RFC 5280: at most 20 octets), unsigned
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list).decode

# What an endpoint process tells the server.
COMMITS = 0  # seq of the first, [[source, payload, received_at, kind, device, serial]...]
STATUS = 1  # device, serial, at, payload
SECURITY = 2  # kind, who, address, detail, at
CONNECTED = 3  # device, when it connected (the system's monotonic clock, ns)
DISCONNECTED = 4  # device
READY = 5  # (listening)
COMMAND_DONE = 6  # device, command id: acknowledged by the unit
# What the server tells an endpoint process.
SETTINGS = 10  # settings as JSON, data folder, commit limit, session-ticket key
ANSWER = 11  # seq, error, revoked: one payload not committed
COMMITTED = 15  # [seq...]: payloads committed
TAKEN_OVER = 12  # device, ns: it connected through another process then; an older session ends
STOP = 13
FORGET_COMMAND = 14  # device, command id: acknowledged through another endpoint process


def frame_bytes(frame: Frame) -> bytes:
    """``frame`` as the link sends it."""
    body = _encode(frame)
    return len(body).to_bytes(_HEADER, "big") + body


def decode_frame(body: bytes) -> Frame:
    """The frame of ``body`` (without its length)."""
    return _decode(body)


class Link(asyncio.Protocol):
    """One end of the link: ``send`` frames, each frame received goes to ``on_frame``,
    and ``on_lost`` is called once the other end has gone (or this one closed)."""

    def __init__(
        self, on_frame: Callable[[Frame], None], on_lost: Callable[[Exception | None], None]
    ) -> None:
        self._on_frame = on_frame
        self._on_lost = on_lost
        self._received = bytearray()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._flushing = False
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        received = self._received
        received += data
        at, size = 0, len(received)
        view = memoryview(received)
        try:
            while size - at >= _HEADER:
                length = int.from_bytes(view[at : at + _HEADER], "big")
                end = at + _HEADER + length
                if end > size:
                    break
                frame = _decode(view[at + _HEADER : end])  # not a frame: the link closes
                at = end
                try:
                    self._on_frame(frame)
                except Exception:  # one frame's failure must not cut every unit off
                    log.exception("a frame from the other end of the link failed: %.60r", frame)
        finally:
            view.release()
            del received[:at]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.closed.set()
        self._on_lost(exc)

    def send(self, frame: Frame) -> None:
        """Send ``frame`` with whatever else this loop turn sends."""
        if self._transport is None:
            return  # the other end has gone: what it would have answered is lost with it
        body = _encode(frame)
        self._out.append(len(body).to_bytes(_HEADER, "big"))
        self._out.append(body)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def pause(self) -> None:
        """Read no more frames until ``resume``."""
        if self._transport is not None:
            self._transport.pause_reading()

    def resume(self) -> None:
        """Read frames again."""
        if self._transport is not None:
            self._transport.resume_reading()

    def close(self) -> None:
        """Send what is waiting, then close."""
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        self._flushing = False
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out))
        self._out.clear()
