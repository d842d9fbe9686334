"""Customers' logins to the file servers: argon2 password hashes, SSH keys, allow-lists,
and the counts of failures (``services.login_guard``).

Both file servers ask ``Logins``, so FTPS and SFTP share one set of rules and one
count of failures; the failures of each address are kept in the store, so that every
file server on it (``kenshin serve``, each ``kenshin files``) counts them together. A
user name that is not a customer id is refused before anything else. Failures slow
down the next password tries of that account from that address and, after
``max_failures`` within the window from one address, lock that address for a while:
even the right password is refused from there meanwhile, except to an account whose
allow-list names the address. A registered SSH key is never refused for failures.
Every refusal is a security event.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kenshin.domain.accounts import Account, UnlockRequest
from kenshin.domain.model import CUSTOMER_ID
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.ports import Deliveries
from kenshin.services.login_guard import ADDRESS_LOCKED, CHECKING, LoginGuard, LoginPolicy
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

# OWASP's argon2id minimum (19 MiB, 2 passes): a hundred customers logging in at once
# must not take gigabytes.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# At most this many hashes are computed at once: logins cannot starve the server.
_HASHING = threading.BoundedSemaphore(4)
# The threads an event loop checks passwords on (SFTP), apart from its default ones that
# the device endpoint needs: a flood of password tries queues here, not in their way.
PASSWORD_CHECKS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="password-check")


@cache
def _dummy_hash() -> str:
    """A hash to check when there is none: an unknown account costs the same time."""
    return _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, as stored."""
    with _HASHING:
        return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (False when there is none)."""
    with _HASHING:
        try:
            return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


def shown(user_name: str) -> str:
    """A user name as logged: a customer id as it is, anything else quoted and cut short,
    so that a name sent by a client cannot forge log lines."""
    return user_name if CUSTOMER_ID.fullmatch(user_name) else repr(user_name[:64])


def generate_password() -> str:
    """A new random password: 24 characters, 144 bits."""
    return secrets.token_urlsafe(18)


def key_identity(line: str) -> str:
    """An OpenSSH public key line without its comment: how keys are compared."""
    return " ".join(line.split()[:2])


def address_allowed(account: Account, address: str) -> bool:
    """Whether ``address`` is in the account's allow-list (any address if it has none)."""
    if not account.allowed:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(net, strict=False) for net in account.allowed)


def check_networks(networks: tuple[str, ...]) -> tuple[str, ...]:
    """The networks in canonical form; ValueError for one that is not an address or CIDR."""
    return tuple(str(ipaddress.ip_network(n, strict=False)) for n in networks)


class Logins:
    """Checks customers' logins for both file servers, reporting every refusal."""

    def __init__(
        self,
        deliveries: Deliveries,
        security: SecurityLog,
        policy: LoginPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._deliveries = deliveries
        self._security = security
        self.guard = LoginGuard(policy, deliveries)  # failures kept in the store
        self._clock = clock

    def password(self, customer: str, password: str, address: str, protocol: str) -> bool:
        """Whether the customer may log in with this password from ``address``."""
        account = self.admitted(customer, address, protocol)
        if account is False:
            return False
        exempt = account is not None and bool(account.allowed)  # and so lists the address
        held = self.guard.begin(customer, address, self._clock(), exempt=exempt)
        if held is not None:
            if held not in (ADDRESS_LOCKED, CHECKING):  # before the last answer was due
                self.guard.failed(None, address, self._clock())
            self._security.record(
                SecurityEventKind.LOGIN_LOCKED, customer, address, f"{protocol}: {held}"
            )
            return False
        right = False
        try:
            stored = account.password_hash if account is not None else None
            right = verify_password(stored, password) and account is not None
        finally:
            self.guard.end(customer, address, self._clock(), right=right)
        if not right:
            why = "wrong password or no such account"
            self._security.record(
                SecurityEventKind.LOGIN_FAILED, customer, address, f"{protocol}: {why}"
            )
        return right

    def admitted(
        self, customer: str, address: str, protocol: str
    ) -> Account | Literal[False] | None:
        """The account (None if there is none) if ``customer`` is a customer id that may
        log in from ``address``; False, reported and counted against the address, if not.
        Failed logins do not matter here: a registered SSH key is never refused for them."""
        if not CUSTOMER_ID.fullmatch(customer):
            self.guard.failed(None, address, self._clock())
            detail = f"{protocol}: not a customer id"
            self._security.record(SecurityEventKind.LOGIN_FAILED, shown(customer), address, detail)
            return False
        account = self._deliveries.get_account(customer)
        if account is not None and not address_allowed(account, address):
            self.guard.failed(customer, address, self._clock())
            self._security.record(
                SecurityEventKind.LOGIN_ADDRESS_REFUSED, customer, address, protocol
            )
            return False
        return account

    def failed(self, customer: str, address: str, protocol: str, why: str) -> None:
        """Count a failed login of a customer id and report it."""
        self._security.record(
            SecurityEventKind.LOGIN_FAILED, customer, address, f"{protocol}: {why}"
        )
        self.guard.failed(customer, address, self._clock())

    def apply_unlocks(self) -> list[UnlockRequest]:
        """Apply the operators' pending unlock requests (``kenshin customers unlock``) and
        record what each cleared; the requests applied."""
        applied = []
        for request in self._deliveries.pending_unlocks():
            cleared = self.guard.clear(request.customer, request.address, self._clock())
            self._deliveries.finish_unlock(request.id, cleared, int(time.time()))
            log.info("unlocked %s: %s", request.customer, "; ".join(cleared) or "nothing to clear")
            applied.append(request)
        return applied

    def failure_delay(self, customer: str, address: str) -> float:
        """How long to wait before answering a refused login (it grows with the failures
        of the customer from the address)."""
        return self.guard.delay(customer, address)
