"""The FTPS server's connections that have not logged in yet: few, and not for long.

A connection that does not log in within ``ftps.login_timeout_s`` is closed. Such
connections hold at most half of ``ftps.max_connections``; when they hold all of
that half, a new one closes the oldest. So idle connections, from however many
addresses, never take the slots of customers who log in, and a new customer always
gets its chance to log in.

A connection is closed by shutting its socket down (a system call, safe from any
thread): the connection's own thread then sees the end of the stream and closes it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class LoginSlots:
    """Connections not logged in yet, oldest first: at most ``limit``, each for at most
    ``timeout_s`` seconds."""

    def __init__(
        self, limit: int, timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = max(1, limit)
        self._timeout_s = timeout_s
        self._clock = clock
        self._waiting: OrderedDict[int, tuple[float, socket.socket]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: int, sock: socket.socket) -> None:
        """A new connection waits for its login; the oldest waiting is closed if the
        waiting ones already hold every slot they may."""
        with self._lock:
            while len(self._waiting) >= self._limit:
                _key, (_since, oldest) = self._waiting.popitem(last=False)
                _shut(oldest)
            self._waiting[key] = (self._clock(), sock)

    def release(self, key: int) -> None:
        """The connection logged in or closed: it no longer waits."""
        with self._lock:
            self._waiting.pop(key, None)

    def expire(self) -> None:
        """Close the connections that waited longer than the timeout."""
        cutoff = self._clock() - self._timeout_s
        with self._lock:
            while self._waiting:
                key, (since, sock) = next(iter(self._waiting.items()))
                if since > cutoff:
                    break
                del self._waiting[key]
                _shut(sock)

    def __len__(self) -> int:
        return len(self._waiting)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)
