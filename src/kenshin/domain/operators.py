"""The people who run kenshin (operators, as opposed to customers), their roles, their
sessions and API tokens, and the audit log of every change they make.

A role allows a set of actions; the console and the admin API ask ``allows`` before
anything is read or changed. Secrets are never kept as given: passwords as argon2
hashes, session ids and API tokens as SHA-256 digests (they are long random strings,
so a plain digest suffices and lets a request be looked up by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What an operator may do: ``admin`` everything, users included; ``operator`` the
    fleet (devices, customers, commands, alerts); ``viewer`` read only."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    @property
    def needs_totp(self) -> bool:
        """Whether a sign-in with this role takes a TOTP code besides the password."""
        return self is not Role.VIEWER


class Action(StrEnum):
    """What a request does, as the role matrix names it."""

    READ = "read"  # the fleet's data: devices, meters, files, alerts, letters, report
    CHANGE_FLEET = "change_fleet"  # customers, devices, commands, alerts
    READ_AUDIT = "read_audit"  # the audit log
    MANAGE_USERS = "manage_users"  # operators' accounts and API tokens


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.OPERATOR: frozenset({Action.READ, Action.CHANGE_FLEET, Action.READ_AUDIT}),
    Role.VIEWER: frozenset({Action.READ}),
}


def allows(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return action in ALLOWED[role]


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator's account. ``totp_secret`` is the shared secret of RFC 6238 (raw
    bytes), None until one is issued; ``totp_enrolled`` once a code made with it was
    accepted; ``last_totp_step`` the time step of the last code accepted (a code is
    good once). ``failures`` counts wrong passwords or codes since the last sign-in,
    and ``locked_until`` (UTC epoch s) holds the account after too many."""

    name: str
    role: Role
    password_hash: str
    created_at: int
    totp_secret: bytes | None = None
    totp_enrolled: bool = False
    last_totp_step: int = 0
    failures: int = 0
    locked_until: int = 0


@dataclass(frozen=True, slots=True)
class OperatorSession:
    """A signed-in browser: ``id_hash`` the digest of its cookie's value, ``csrf`` the
    token its changing requests must carry, ``enrolling`` while a TOTP secret waits
    for its first code (such a session may do nothing else)."""

    id_hash: str
    operator: str
    role: Role
    created_at: int
    expires_at: int
    csrf: str
    address: str = ""
    enrolling: bool = False


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token for scripts: ``token_hash`` the digest of the token, shown once when
    made; its own ``role`` (at most its maker's) and ``expires_at`` (UTC epoch s)."""

    id: str
    name: str
    role: Role
    token_hash: str
    created_by: str
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change: who (an operator, a token's ``token:NAME``, or ``cli:USER`` at the
    command line) with which role, what (``action``, e.g. ``devices.revoke``) to which
    object (``kind`` and ``key``), the object ``before`` and ``after`` (JSON text, empty
    where there is none), when (UTC epoch s) and from where (an address, or ``cli``).
    ``seq`` is given by the log, in order of appending."""

    at: int
    who: str
    role: str
    action: str
    kind: str
    key: str
    before: str
    after: str
    source: str
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, as the audit log names them: ``who`` (an operator, a token's
    ``token:NAME``, or ``cli:USER``), their ``role`` (``cli`` at the command line) and
    ``source`` (the client's address, or ``cli``)."""

    who: str
    role: str
    source: str
