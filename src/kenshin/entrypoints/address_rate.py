"""How many new connections one address may open: a bucket of tokens per address.

Each address starts with a full bucket (``per_minute`` tokens); a new connection
takes one, and the bucket fills again at ``per_minute`` tokens a minute. A customer's
script that connects a few times an hour never notices; a flood from one address
gets its first ``per_minute`` connections and then one now and then. Thread-safe:
the FTPS server admits connections from one thread and the SFTP server from the
event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Addresses remembered at most; full buckets are forgotten first (they hold nothing).
MAX_ADDRESSES = 10_000


class AddressRate:
    """New connections per address, limited to ``per_minute`` (a burst of as many)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address: (tokens, when)
        self._lock = threading.Lock()

    def admit(self, address: str) -> bool:
        """Whether ``address`` may open one more connection now (taking a token if so)."""
        now = self._clock()
        with self._lock:
            tokens = self._tokens(address, now)
            admitted = tokens >= 1
            self._buckets[address] = (tokens - 1 if admitted else tokens, now)
            if len(self._buckets) > MAX_ADDRESSES:
                self._forget_full(now)
        return admitted

    def _tokens(self, address: str, now: float) -> float:
        tokens, when = self._buckets.get(address, (self._capacity, now))
        return min(self._capacity, tokens + (now - when) * self._per_second)

    def _forget_full(self, now: float) -> None:
        full = [a for a in self._buckets if self._tokens(a, now) >= self._capacity]
        for address in full:
            del self._buckets[address]
        if len(self._buckets) > MAX_ADDRESSES:  # all busy: forget the oldest
            oldest = sorted(self._buckets, key=lambda a: self._buckets[a][1])
            for address in oldest[: len(self._buckets) - MAX_ADDRESSES]:
                del self._buckets[address]
