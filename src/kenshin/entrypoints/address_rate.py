"""How many new connections one address may open: a bucket of tokens per address.

Each address starts with a full bucket (``per_minute`` tokens); a new connection
takes one, and the bucket fills again at ``per_minute`` tokens a minute. A customer's
script that connects a few times an hour never notices; a flood from one address
gets its first ``per_minute`` connections and then one now and then. An address
counts as the login guard counts it: an IPv4 address, or the /64 of an IPv6 one.
Thread-safe: the FTPS server admits connections from one thread and the SFTP server
from the event loop.

At most ``MAX_ADDRESSES`` buckets are kept, least recently used first. Only a full
bucket is forgotten (it holds nothing an address could gain by being forgotten); while
the least recently used bucket is not full again (all were used within the last
minute or so), an address that has none is refused. Every admit costs the same,
however many buckets are kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from kenshin.services.login_guard import address_key

# Addresses remembered at most.
MAX_ADDRESSES = 10_000


class AddressRate:
    """New connections per address, limited to ``per_minute`` (a burst of as many)."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60
        self._clock = clock
        self._max = max(1, max_addresses)
        # address key: (tokens, when), least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, address: str) -> bool:
        """Whether ``address`` may open one more connection now (taking a token if so)."""
        key, now = address_key(address), self._clock()
        with self._lock:
            if key not in self._buckets and not self._room(now):
                return False
            tokens = self._tokens(key, now)
            admitted = tokens >= 1
            self._buckets[key] = (tokens - 1 if admitted else tokens, now)
            self._buckets.move_to_end(key)
        return admitted

    def _room(self, now: float) -> bool:
        """Whether a new bucket may be kept: forget the least recently used one if it is
        full again."""
        if len(self._buckets) < self._max:
            return True
        oldest = next(iter(self._buckets))
        if self._tokens(oldest, now) < self._capacity:
            return False
        del self._buckets[oldest]
        return True

    def _tokens(self, key: str, now: float) -> float:
        tokens, when = self._buckets.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - when) * self._per_second)
