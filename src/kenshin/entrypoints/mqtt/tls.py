"""TLS connections on non-blocking ``ssl.SSLSocket``s, driven by the event loop's readiness.

asyncio's own TLS transport runs the record layer in Python over memory BIOs and
gives each connection large buffers; here OpenSSL reads and writes the socket
itself, and a connection holds only what it has not yet handed on. ``TlsStream``
does its own handshake (so a failed one can be told apart and reported), reads
into a small inbox, writes at once what the socket takes and keeps the rest
(``drain`` waits while that is much), and closes with a TLS close_notify.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

RECV_SIZE = 16 * 1024 + 256  # one TLS record's plaintext at most
READS_PER_WAKE = 16  # records read per readiness event before others get their turn
INBOX_LIMIT = 64 * 1024  # unread bytes above which the socket is not read
WRITE_HIGH = 64 * 1024  # unsent bytes above which ``drain`` waits
CLOSE_WAIT_S = 2.0  # how long a closing connection waits for the peer's close_notify


class TlsStream:
    """One TLS connection, from handshake to close, on the running loop."""

    __slots__ = (
        "_closed",
        "_closing",
        "_drained",
        "_eof",
        "_error",
        "_fd",
        "_inbox",
        "_loop",
        "_outbox",
        "_paused",
        "_quiet_for",
        "_quiet_timer",
        "_reading",
        "_received_at",
        "_sock",
        "_stalled",
        "_timer",
        "_waiter",
        "_writing",
        "address",
    )

    def __init__(self, sock: ssl.SSLSocket, address: str) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = asyncio.get_running_loop()
        self.address = address
        self._inbox = bytearray()
        self._outbox: list[bytes] = []  # the first one is being written (retried as is)
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None  # a read or handshake step
        self._drained: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._reading = self._writing = self._paused = self._closing = False
        self._stalled = False  # the first of _outbox must be retried as it is
        self._timer: asyncio.TimerHandle | None = None
        self._received_at = self._loop.time()  # when bytes last came (loop time)
        self._quiet_for: float | None = None
        self._quiet_timer: asyncio.TimerHandle | None = None

    # the handshake
    async def handshake(self, timeout: float) -> None:
        """Complete the TLS handshake; ssl.SSLError, OSError or TimeoutError if it fails."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    self._sock.do_handshake()
                except ssl.SSLWantReadError:
                    await self._ready(writable=False)
                except ssl.SSLWantWriteError:
                    await self._ready(writable=True)
                else:
                    return

    async def _ready(self, *, writable: bool) -> None:
        waiter = self._waiter = self._loop.create_future()
        loop = self._loop
        (loop.add_writer if writable else loop.add_reader)(self._fd, _wake, waiter)
        try:
            await waiter
        finally:
            (loop.remove_writer if writable else loop.remove_reader)(self._fd)
            self._waiter = None

    def peer_certificate(self) -> bytes | None:
        """The peer's certificate (DER) once the handshake is done, if it sent one."""
        return self._sock.getpeercert(binary_form=True)

    def resumed(self) -> bool:
        """Whether the handshake resumed an earlier TLS session (a session ticket)."""
        return bool(self._sock.session_reused)

    def tls_session(self) -> ssl.SSLSession | None:
        """The TLS session to resume on the next connection (a client's, once it has read)."""
        return self._sock.session

    # reading
    async def read(self, timeout: float | None = None) -> bytes:
        """What has arrived since the last read; b"" once the peer has closed.
        TimeoutError if nothing came within ``timeout`` seconds."""
        while not self._inbox:
            if self._error is not None:
                raise self._error
            if self._eof or self._closing:
                return b""
            self._start_reading()
            waiter = self._waiter = self._loop.create_future()
            self._watch_quiet(timeout)
            try:
                await waiter
            finally:
                self._waiter = None
        data = bytes(self._inbox)
        self._inbox.clear()
        self._start_reading()  # if it stopped because the inbox was full
        return data

    def _watch_quiet(self, timeout: float | None) -> None:
        """Time out the waiting read once nothing has come for ``timeout`` seconds.

        One timer per quiet period, not one per read: when it fires after bytes came,
        it is set again from when they came."""
        self._quiet_for = timeout
        if timeout is None:
            return
        due = self._received_at + timeout
        if self._quiet_timer is not None and self._quiet_timer.when() > due:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        if self._quiet_timer is None:
            self._quiet_timer = self._loop.call_at(due, self._on_quiet)

    def _on_quiet(self) -> None:
        self._quiet_timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._quiet_for is None:
            return  # no read is waiting with a timeout: the next one sets the timer again
        due = self._received_at + self._quiet_for
        if self._loop.time() < due:
            self._quiet_timer = self._loop.call_at(due, self._on_quiet)
        else:
            waiter.set_exception(TimeoutError())

    def pause_reading(self) -> None:
        """Read nothing more from the peer (what was read stays readable)."""
        self._paused = True
        self._stop_reading()

    def _start_reading(self) -> None:
        if not (self._reading or self._paused or self._closing or self._eof or self._error):
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _on_readable(self) -> None:
        if self._closing:
            self._finish_close()
            return
        if self._stalled and not self._writing:  # a write that waited for a read
            self._flush()
        self._receive()
        if self._eof or self._error is not None or len(self._inbox) > INBOX_LIMIT:
            self._stop_reading()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _receive(self) -> None:
        try:
            for _ in range(READS_PER_WAKE):
                chunk = self._sock.recv(RECV_SIZE)
                if not chunk:
                    self._eof = True
                    break
                self._inbox += chunk
                self._received_at = self._loop.time()
                if len(self._inbox) > INBOX_LIMIT:
                    break
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLWantWriteError:  # renegotiation: go on once the socket takes it
            self._want_write()
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self._eof = True
        except (ssl.SSLError, OSError) as exc:
            self._error = exc

    # writing
    def write(self, data: bytes) -> None:
        """Send ``data`` after what was written before; what the socket does not take now
        is kept and sent when it can."""
        if self._closing or self._closed is not None or self._error is not None:
            return
        self._outbox.append(data)
        if len(self._outbox) == 1:
            self._flush()

    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return sum(map(len, self._outbox))

    async def drain(self) -> None:
        """Wait while much is written and not yet sent (the peer reads slowly)."""
        while self._outbox and self.buffered() > WRITE_HIGH and self._error is None:
            self._drained = self._loop.create_future()
            await self._drained

    def _flush(self) -> None:
        outbox = self._outbox
        try:
            while outbox:
                if len(outbox) > 1 and not self._stalled:  # one TLS record for them all
                    outbox[:] = [b"".join(outbox)]
                self._sock.send(outbox[0])  # whole: OpenSSL writes all or asks to retry
                del outbox[0]
                self._stalled = False
        except ssl.SSLWantWriteError:
            self._stalled = True
            self._want_write()
            return
        except ssl.SSLWantReadError:  # the peer must be read first (_on_readable retries)
            self._stalled = True
            self._start_reading()
            return
        except (ssl.SSLError, OSError) as exc:
            self._error = exc
            outbox.clear()
            self._wake_all()
            if self._closing:
                self._finish_close(abort=True)
            return
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._closing:
            self._finish_close()

    def _want_write(self) -> None:
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self._fd, self._flush)

    # closing
    def is_closing(self) -> bool:
        """Whether close or abort was called, or the connection failed."""
        return self._closing or self._closed is not None or self._error is not None

    def close(self) -> None:
        """Send what was written, then close_notify; wait for the peer's (``wait_closed``)."""
        if self._closing or self._closed is not None:
            return
        self._closing = True
        self._closed = self._loop.create_future()
        self._timer = self._loop.call_later(CLOSE_WAIT_S, self._finish_close, True)
        self._wake_all()
        if not self._outbox:
            self._finish_close()

    def abort(self) -> None:
        """Close the socket at once, unsent data lost."""
        if self._closed is None:
            self._closing = True
            self._closed = self._loop.create_future()
        self._finish_close(abort=True)

    async def wait_closed(self) -> None:
        """Wait until the socket is closed."""
        if self._closed is not None:
            await asyncio.shield(self._closed)

    def _finish_close(self, abort: bool = False) -> None:
        """Shut TLS down, step by step as the socket allows; then close it."""
        if self._closed is None or self._closed.done():
            return
        if not abort and self._outbox and self._error is None:
            return  # _flush comes back here once the rest is sent
        if not abort and not self._shut_down():
            return  # called again when the socket is ready
        self._stop_reading()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)
        _discard_unread(self._sock)
        self._sock.close()
        for timer in (self._timer, self._quiet_timer):
            if timer is not None:
                timer.cancel()
        self._wake_all()
        self._closed.set_result(None)

    def _shut_down(self) -> bool:
        """Send close_notify and take the peer's; False while waiting for the socket."""
        try:
            self._sock.unwrap()  # sends ours; done once the peer's has come
        except ssl.SSLWantWriteError:
            self._want_write()
            return False
        except ssl.SSLWantReadError:  # ours is out: discard what comes before the peer's
            try:
                while self._sock.recv(RECV_SIZE):
                    pass
            except ssl.SSLWantReadError:
                if not self._reading:
                    self._reading = True
                    self._loop.add_reader(self._fd, self._on_readable)
                return False
            except (ssl.SSLError, OSError):
                pass
        except (ssl.SSLError, OSError, ValueError):
            pass  # the peer went first: nothing more to say
        return True

    def _wake_all(self) -> None:
        for future in (self._waiter, self._drained):
            if future is not None and not future.done():
                future.set_result(None)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _discard_unread(sock: socket.socket) -> None:
    """Read what the kernel holds, below TLS: closing a socket with unread bytes resets
    the connection, and the peer may then lose the last bytes sent it (a TLS alert)."""
    try:
        while socket.socket.recv(sock, RECV_SIZE):
            pass
    except OSError:
        pass
