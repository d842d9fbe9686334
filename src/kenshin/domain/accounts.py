"""Customers' logins to the file servers, their failed logins, operators' unlock requests
and the receipts of downloads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    """How a customer logs in to collect its files (FTPS, SFTP): an argon2 hash of its
    password, its SSH public keys (OpenSSH lines) and the networks it may log in from
    (CIDR; none: any address)."""

    customer: str
    password_hash: str | None = None
    ssh_keys: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnlockRequest:
    """An operator's request to clear a customer's failed logins (those from ``address``
    only, if given) and, once the file servers applied it, when and what they cleared."""

    id: int
    customer: str
    address: str | None
    requested_at: int
    done_at: int | None = None
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoginFailure:
    """A failed login from ``address`` (an address as it counts: an IPv4 address or the
    /64 of an IPv6 one), of ``customer`` if it names one, at ``at`` (UTC epoch s)."""

    address: str
    customer: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Receipt:
    """A completed download: which customer took which file (and its revision, if a
    manifest gave one), how many bytes, over which protocol, from where, when (UTC epoch s)."""

    customer: str
    file_name: str
    revision: int | None
    bytes: int
    protocol: str
    address: str
    at: int
