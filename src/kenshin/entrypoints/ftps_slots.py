"""The FTPS server's connections that have not logged in yet: few, and not for long.

A connection that does not log in within ``ftps.login_timeout_s`` is closed. Such
connections hold at most half of ``ftps.max_connections``, and at most
``WAITING_PER_ADDRESS`` of them come from one address (an IPv4 address, or the /64
of an IPv6 one, as the login guard counts it): a new one from an address that has as
many waiting is refused. When the waiting ones hold all of the half, a new
connection closes the oldest waiting one of the address that has the most waiting,
but never an address's only waiting connection: when every address has just one
waiting, the new connection is refused instead. So a flood, from one address or
from many, never closes a customer's only connection while it logs in, and idle
connections never take the slots of logged-in customers.

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
from typing import NamedTuple

from kenshin.services.login_guard import address_key

# Connections not logged in yet from one address at most.
WAITING_PER_ADDRESS = 3


class _Waiting(NamedTuple):
    since: float
    address: str
    sock: socket.socket


class LoginSlots:
    """Connections not logged in yet, oldest first: at most ``limit`` (``per_address``
    from one address), each for at most ``timeout_s`` seconds."""

    def __init__(
        self,
        limit: int,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        per_address: int = WAITING_PER_ADDRESS,
    ) -> None:
        self._limit = max(1, limit)
        self._per_address = max(1, per_address)
        self._timeout_s = timeout_s
        self._clock = clock
        self._waiting: OrderedDict[int, _Waiting] = OrderedDict()
        self._addresses: dict[str, OrderedDict[int, None]] = {}  # address: its waiting
        self._lock = threading.Lock()

    def admit(self, key: int, address: str, sock: socket.socket) -> bool:
        """Whether a new connection from ``address`` may wait for its login (False: it
        is to be refused); the busiest address's oldest waiting is closed to make room."""
        place = address_key(address)
        with self._lock:
            if len(self._addresses.get(place, ())) >= self._per_address:
                return False
            if len(self._waiting) >= self._limit:
                busiest = max(self._addresses.values(), key=len)
                if len(busiest) < 2:  # every address has one waiting: none is closed
                    return False
                self._close(next(iter(busiest)))
            self._waiting[key] = _Waiting(self._clock(), place, sock)
            self._addresses.setdefault(place, OrderedDict())[key] = None
        return True

    def release(self, key: int) -> None:
        """The connection logged in or closed: it no longer waits."""
        with self._lock:
            self._forget(key)

    def expire(self) -> None:
        """Close the connections that waited longer than the timeout."""
        cutoff = self._clock() - self._timeout_s
        with self._lock:
            while self._waiting:
                key, waiting = next(iter(self._waiting.items()))
                if waiting.since > cutoff:
                    break
                self._close(key)

    def __len__(self) -> int:
        return len(self._waiting)

    def _close(self, key: int) -> None:
        waiting = self._forget(key)
        if waiting is not None:
            _shut(waiting.sock)

    def _forget(self, key: int) -> _Waiting | None:
        waiting = self._waiting.pop(key, None)
        if waiting is not None:
            mine = self._addresses[waiting.address]
            del mine[key]
            if not mine:
                del self._addresses[waiting.address]
        return waiting


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)
