"""API tokens for scripts: ``ksn_`` and 32 random bytes, shown once when made and kept
as their SHA-256 digest; each has its own role (at most its maker's) and an end (at
most ``MAX_DAYS`` ahead). Making and revoking one is written to the audit log; a request
with an unknown or expired token is a security event."""

from __future__ import annotations

import secrets

from kenshin.domain.operators import ALLOWED, Actor, ApiToken, Role
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.errors import AlreadyExistsError, NotFoundError
from kenshin.services.audit import record
from kenshin.services.console_sessions import digest
from kenshin.services.operators import Keeping, OperatorInputError, check_name
from kenshin.services.security import SecurityLog

PREFIX = "ksn_"
MAX_DAYS = 365
DAY_S = 86_400


def described(token: ApiToken) -> dict[str, object]:
    """The token as shown and audited: never its digest."""
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "created_by": token.created_by,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
    }


def make_token(
    keeping: Keeping, actor: Actor, *, name: str, role: Role, maker_role: Role, days: int
) -> tuple[str, ApiToken]:
    """A new token (the secret, shown once, and what is kept) named ``name`` with
    ``role``, valid ``days`` days; OperatorInputError for a role above ``maker_role`` or
    a lifetime out of range, AlreadyExistsError while a live token has that name (the
    audit log names a token's requests by it)."""
    check_name(name, "a token's name")
    if not ALLOWED[role] <= ALLOWED[maker_role]:
        raise OperatorInputError(f"a token's role is at most its maker's ({maker_role.value})")
    if not 1 <= days <= MAX_DAYS:
        raise OperatorInputError(f"a token lasts 1 to {MAX_DAYS} days, not {days}")
    now = int(keeping.clock())
    if any(t.name == name and t.expires_at > now for t in keeping.operators.list_tokens()):
        raise AlreadyExistsError(
            f"an API token named {name!r} exists already: revoke it first, or give another name"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=secrets.token_hex(8),
        name=name,
        role=role,
        token_hash=digest(secret),
        created_by=actor.who,
        created_at=now,
        expires_at=now + days * DAY_S,
    )
    keeping.operators.save_token(token)
    record(
        keeping.audit,
        actor,
        action="tokens.add",
        kind="token",
        key=token.id,
        after=described(token),
        clock=keeping.clock,
    )
    return secret, token


def revoke_token(keeping: Keeping, actor: Actor, token_id: str) -> None:
    """Remove the token; NotFoundError when there is none of that id."""
    token = next((t for t in keeping.operators.list_tokens() if t.id == token_id), None)
    if token is None or not keeping.operators.remove_token(token_id):
        raise NotFoundError(f"no API token {token_id[:40]!r}")
    record(
        keeping.audit,
        actor,
        action="tokens.revoke",
        kind="token",
        key=token_id,
        before=described(token),
        clock=keeping.clock,
    )


def token_of(
    keeping: Keeping, security: SecurityLog | None, secret: str, address: str
) -> ApiToken | None:
    """The live token ``secret`` is; None (a security event) for an unknown or expired one."""
    token = keeping.operators.get_token(digest(secret)) if secret.startswith(PREFIX) else None
    if token is not None and token.expires_at > keeping.clock():
        return token
    if security is not None:
        why = f"expired token {token.name}" if token else "unknown token"
        security.record(SecurityEventKind.CONSOLE_TOKEN_REFUSED, None, address, f"api: {why}")
    return None
