"""Counts of failed logins to the file servers, and what they hold back.

Two counts, kept apart: the failures of one account from one address (a pair), and
the failures from one address whatever the account. A pair's failures are answered
ever later (the delay doubles with each one, up to a cap) and its next try is refused
until that delay has passed, however many connections try at once. An address with
``max_failures`` failures within the window is locked for a while. Nothing locks an
account for everyone: an outsider's failures hold back the outsider's address only.

A password is checked between ``begin`` and ``end``, and until its end the try counts
as a failure to come: tries sent at once cannot all pass before the first failure is
counted. A pair has one try checked at a time, and an address no more than its limit
(failures and tries being checked together) before it is locked.

IPv6 addresses count by their /64 (what one subscriber is given), IPv4-mapped ones as
IPv4. Given a ``book`` (the store's deliveries), the failures of each address are kept
there, and read from there before each try: every file server on the store counts them
together, an address locked by one is locked on all, a restart keeps them and an unlock
clears them for all. The delays of a pair and the tries being checked are counted by
each process, in memory.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from kenshin.config_delivery import DeliveriesConfig
from kenshin.domain.accounts import LoginFailure
from kenshin.ports import Deliveries

_PRUNE_AT = 1024  # entries before the first sweep of forgotten ones
ADDRESS_LOCKED = "address locked"  # a refusal: the address failed too often lately
CHECKING = "another try of this account from there is being checked"  # a refusal


def address_key(address: str) -> str:
    """What ``address`` counts as: an IPv4 address, or the /64 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How failures count: ``max_failures`` from an address within ``window_s`` lock it
    for ``lockout_s``; the n-th failure of an account from an address is answered after
    ``delay_s`` times 2^(n-1), at most ``max_delay_s``."""

    max_failures: int = 5
    window_s: float = 15 * 60
    lockout_s: float = 15 * 60
    delay_s: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, failures: int) -> float:
        """How long the answer to the ``failures``-th failure of a pair waits."""
        doubled = self.delay_s * (1 << min(max(failures - 1, 0), 32))
        return max(min(doubled, self.max_delay_s), self.delay_s)

    @property
    def memory_s(self) -> float:
        """How long a failure of an address can matter: the window in which it counts and
        the lockout it may start."""
        return self.window_s + self.lockout_s


def settings_policy(deliveries: DeliveriesConfig) -> LoginPolicy:
    """The login rules of the settings' ``[deliveries]``."""
    return LoginPolicy(
        max_failures=deliveries.max_failed_logins,
        window_s=deliveries.failure_window_minutes * 60,
        lockout_s=deliveries.lockout_minutes * 60,
        delay_s=deliveries.failed_login_delay_ms / 1000,
        max_delay_s=deliveries.max_failed_login_delay_ms / 1000,
    )


def address_state(times: Iterable[float], policy: LoginPolicy) -> tuple[deque[float], float]:
    """The failures of an address at ``times`` as the guard counts them: those since its
    last lockout, and until when it is locked (0 if never)."""
    counted: deque[float] = deque()
    locked_until = 0.0
    for at in sorted(times):
        while counted and counted[0] <= at - policy.window_s:
            counted.popleft()
        counted.append(at)
        if len(counted) >= policy.max_failures and locked_until <= at:
            locked_until = at + policy.lockout_s
            counted.clear()
    return counted, locked_until


@dataclass(slots=True)
class _Pair:
    failures: int = 0
    last: float = 0.0
    checking: bool = False  # a try is being checked (``begin``, not yet ``end``)


@dataclass(slots=True)
class _Address:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    last: float = 0.0
    checking: int = 0  # tries being checked (``begin``, not yet ``end``)


class LoginGuard:
    """Failed logins per (account, address) and per address; what they hold back. With a
    ``book``, the failures of addresses are kept in it (shared by every file server on
    the store); it is used under the guard's lock, so that tries at once count in order."""

    def __init__(self, policy: LoginPolicy, book: Deliveries | None = None) -> None:
        self.policy = policy
        self._book = book
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._addresses: dict[str, _Address] = {}
        self._lock = threading.Lock()
        self._prune_at = _PRUNE_AT

    def refusal(
        self, account: str, address: str, now: float, *, exempt: bool = False
    ) -> str | None:
        """Why a password login of ``account`` from ``address`` is refused at ``now``
        without being checked, or None. ``exempt``: the account allow-lists the address,
        so the address's lockout does not hold it back."""
        with self._lock:
            return self._refusal(account, address_key(address), now, exempt)

    def begin(self, account: str, address: str, now: float, *, exempt: bool = False) -> str | None:
        """Let a password try of ``account`` from ``address`` be checked, or say why it is
        refused unchecked (``refusal``, or ``CHECKING``). Until ``end``, the try counts as
        a failure to come: the pair is refused, and the address from its limit on."""
        key = address_key(address)
        with self._lock:
            held = self._refusal(account, key, now, exempt)
            if held is not None:
                return held
            self._prune(now)
            self._pairs.setdefault((account, key), _Pair()).checking = True
            place = self._addresses.setdefault(key, _Address())
            place.last = now
            place.checking += 1
        return None

    def end(self, account: str, address: str, now: float, *, right: bool) -> None:
        """The try let through by ``begin`` was checked: a right password forgets the
        pair's failures, a wrong one counts as ``failed``."""
        key = address_key(address)
        with self._lock:
            pair, place = self._pairs.get((account, key)), self._addresses.get(key)
            if pair is not None:
                pair.checking = False
            if place is not None:
                place.checking = max(place.checking - 1, 0)
            if right:
                self._pairs.pop((account, key), None)
            else:
                self._failed(account, key, now)

    def _refusal(self, account: str, key: str, now: float, exempt: bool) -> str | None:
        """``refusal`` for an address key (called locked)."""
        place, policy = self._addresses.get(key), self.policy
        if not exempt and self._book is not None:
            place = self._read_book(self._book, key, now)
        if not exempt and place is not None:
            while place.times and place.times[0] <= now - policy.window_s:
                place.times.popleft()
            if place.locked_until > now or len(place.times) + place.checking >= policy.max_failures:
                return ADDRESS_LOCKED  # or will be if the tries being checked fail
        pair = self._pairs.get((account, key))
        if pair is not None and pair.checking:
            return CHECKING
        if pair is not None and now < pair.last + policy.delay(pair.failures):
            return f"too soon after {_logins(pair.failures)} of this account from there"
        return None

    def _read_book(self, book: Deliveries, key: str, now: float) -> _Address | None:
        """The address's failures as the book has them, kept here (called locked)."""
        failures = book.login_failures(key, now - self.policy.memory_s)
        place = self._addresses.get(key)
        if place is None and not failures:
            return None
        place = self._addresses.setdefault(key, _Address())
        place.times, place.locked_until = address_state((f.at for f in failures), self.policy)
        return place

    def failed(self, account: str | None, address: str, now: float) -> None:
        """Count a failure from ``address`` (and of ``account`` from there, if given);
        lock the address if it reached the limit."""
        with self._lock:
            self._failed(account, address_key(address), now)

    def _failed(self, account: str | None, key: str, now: float) -> None:
        """``failed`` for an address key (called locked)."""
        policy = self.policy
        self._prune(now)
        if account is not None:
            pair = self._pairs.setdefault((account, key), _Pair())
            if now - pair.last > policy.window_s:
                pair.failures = 0
            pair.failures += 1
            pair.last = now
        place = self._addresses.setdefault(key, _Address())
        place.last = now
        place.times.append(now)
        while place.times and place.times[0] <= now - policy.window_s:
            place.times.popleft()
        if len(place.times) >= policy.max_failures and place.locked_until <= now:
            place.locked_until = now + policy.lockout_s
            place.times.clear()
        if self._book is not None:
            self._book.add_login_failure(LoginFailure(key, account, now), now - policy.memory_s)

    def succeeded(self, account: str, address: str) -> None:
        """The account logged in from ``address``: its failures from there are forgotten."""
        with self._lock:
            self._pairs.pop((account, address_key(address)), None)

    def delay(self, account: str, address: str) -> float:
        """How long to wait before answering a failure of ``account`` from ``address``."""
        with self._lock:
            pair = self._pairs.get((account, address_key(address)))
        return self.policy.delay(pair.failures if pair is not None else 0)

    def clear(self, account: str, address: str | None, now: float) -> list[str]:
        """Forget the failures of ``account`` (from ``address`` only, if given) and unlock
        the addresses they came from (or ``address``); what was cleared, one line each."""
        only = None if address is None else address_key(address)
        if self._book is not None:
            return self._clear_book(self._book, account, only, now)
        cleared, keys = [], set() if only is None else {only}
        with self._lock:
            for pair_key in [k for k in self._pairs if k[0] == account and only in (None, k[1])]:
                pair = self._pairs.pop(pair_key)
                cleared.append(f"{_logins(pair.failures)} from {pair_key[1]} cleared")
                keys.add(pair_key[1])
            for key in sorted(keys & self._addresses.keys()):
                if self._addresses.pop(key).locked_until > now:
                    cleared.append(f"{key} unlocked")
        return cleared

    def _clear_book(
        self, book: Deliveries, account: str, only: str | None, now: float
    ) -> list[str]:
        """``clear`` of the failures the book keeps, and of this process's pairs."""
        with self._lock:
            forgotten = book.clear_login_failures(account, only)
            for pair_key in [k for k in self._pairs if k[0] == account and only in (None, k[1])]:
                del self._pairs[pair_key]
            for key in {f.address for f in forgotten} | ({only} if only else set()):
                self._addresses.pop(key, None)
        keys = sorted({f.address for f in forgotten})
        counts = {
            key: sum(f.address == key and f.customer == account for f in forgotten) for key in keys
        }
        cleared = [f"{_logins(n)} from {key} cleared" for key, n in counts.items() if n]
        for key in keys:
            times = (f.at for f in forgotten if f.address == key)
            if address_state(times, self.policy)[1] > now:
                cleared.append(f"{key} unlocked")
        return cleared

    def _prune(self, now: float) -> None:
        """Forget what no longer counts, once there are many entries (called locked)."""
        if len(self._pairs) + len(self._addresses) < self._prune_at:
            return
        horizon = now - max(self.policy.window_s, self.policy.max_delay_s)
        for pair_key in [k for k, p in self._pairs.items() if p.last < horizon and not p.checking]:
            del self._pairs[pair_key]
        for key in [
            k
            for k, a in self._addresses.items()
            if a.last < horizon and a.locked_until <= now and not a.checking
        ]:
            del self._addresses[key]
        self._prune_at = 2 * (len(self._pairs) + len(self._addresses)) + _PRUNE_AT

    @property
    def entries(self) -> int:
        """How many pairs and addresses are counted (what memory the counts hold)."""
        with self._lock:
            return len(self._pairs) + len(self._addresses)


def _logins(count: int) -> str:
    return f"{count} failed login{'' if count == 1 else 's'}"
