"""Operators' accounts: added, listed, removed and their TOTP reset, each change written
to the audit log by the actor who made it (the command line and the admin API both
call these, so a change is recorded once whichever way it came).

Signing in is ``services.console_sessions``; API tokens ``services.api_tokens``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from kenshin.domain.operators import Actor, Operator, Role
from kenshin.domain.totp import new_secret
from kenshin.errors import AlreadyExistsError, KenshinError, NotFoundError
from kenshin.ports import Store
from kenshin.ports.operators import AuditLog, Operators
from kenshin.services.accounts import hash_password
from kenshin.services.audit import record

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 12


class OperatorInputError(KenshinError, ValueError):
    """A name, password, role or lifetime that cannot be taken, saying why."""


class LastAdminError(KenshinError):
    """The change would leave no admin: nobody could manage users and tokens."""


@dataclass(frozen=True)
class Keeping:
    """Where operators are kept and their changes logged, and the clock (UTC epoch s)."""

    operators: Operators
    audit: AuditLog
    clock: Callable[[], float] = time.time


def keeping_of(store: Store, clock: Callable[[], float] = time.time) -> Keeping:
    """The operators' accounts and audit log of ``store``, with the clock to date them."""
    return Keeping(store.operators, store.audit, clock)


def described(operator: Operator) -> dict[str, object]:
    """The account as shown and audited: never its password hash or TOTP secret."""
    return {
        "name": operator.name,
        "role": operator.role.value,
        "created_at": operator.created_at,
        "totp_enrolled": operator.totp_enrolled,
        "locked_until": operator.locked_until,
    }


def check_name(name: str, what: str = "an operator's name") -> str:
    """``name`` if it is a valid account or token name; OperatorInputError otherwise."""
    if not NAME.fullmatch(name):
        raise OperatorInputError(
            f"{what} is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter"
            f" or digit: {name[:70]!r} is not"
        )
    return name


def add_operator(keeping: Keeping, actor: Actor, name: str, role: Role, password: str) -> Operator:
    """Add an account (with a TOTP secret to enrol for roles that need one)."""
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise OperatorInputError(f"a password is at least {MIN_PASSWORD} characters")
    if keeping.operators.get_operator(name) is not None:
        raise AlreadyExistsError(f"operator {name} exists already")
    operator = Operator(
        name,
        role,
        hash_password(password),
        int(keeping.clock()),
        totp_secret=new_secret() if role.needs_totp else None,
    )
    keeping.operators.save_operator(operator)
    _audit(keeping, actor, "users.add", name, None, described(operator))
    return operator


def remove_operator(keeping: Keeping, actor: Actor, name: str) -> None:
    """Remove an account with its sessions and the API tokens it made; LastAdminError
    for the only admin's."""
    operator = _existing(keeping, name)
    if operator.role is Role.ADMIN and not any(
        o.role is Role.ADMIN and o.name != name for o in keeping.operators.list_operators()
    ):
        raise LastAdminError(
            f"{name} is the only admin: add another admin first"
            " ('kenshin users add NAME --role admin'), so that someone can manage users"
        )
    for token in keeping.operators.list_tokens():
        if token.created_by == name and keeping.operators.remove_token(token.id):
            before: dict[str, object] = {
                "id": token.id,
                "name": token.name,
                "role": token.role.value,
            }
            record(
                keeping.audit,
                actor,
                action="tokens.revoke",
                kind="token",
                key=token.id,
                before=before,
                clock=keeping.clock,
            )
    keeping.operators.remove_operator(name)
    _audit(keeping, actor, "users.remove", name, described(operator), None)


def reset_totp(keeping: Keeping, actor: Actor, name: str) -> Operator:
    """Give the account a new TOTP secret to enrol at its next sign-in, unlock it and end
    its sessions."""
    operator = _existing(keeping, name)
    reset = replace(
        operator, totp_secret=new_secret(), totp_enrolled=False, failures=0, locked_until=0
    )
    keeping.operators.save_operator(reset)
    keeping.operators.remove_sessions(operator=name)
    _audit(keeping, actor, "users.reset_totp", name, described(operator), described(reset))
    return reset


def unlock_operator(keeping: Keeping, actor: Actor, name: str) -> Operator:
    """Lift the account's lock and forget its failed sign-ins (its TOTP stays)."""
    operator = _existing(keeping, name)
    keeping.operators.clear_failures(name)
    unlocked = replace(operator, failures=0, locked_until=0)
    _audit(keeping, actor, "users.unlock", name, described(operator), described(unlocked))
    return unlocked


def list_operators(keeping: Keeping) -> list[Operator]:
    """Every account, by name."""
    return keeping.operators.list_operators()


def _existing(keeping: Keeping, name: str) -> Operator:
    operator = keeping.operators.get_operator(name)
    if operator is None:
        raise NotFoundError(f"no operator named {name[:70]!r}")
    return operator


def _audit(
    keeping: Keeping,
    actor: Actor,
    action: str,
    name: str,
    before: dict[str, object] | None,
    after: dict[str, object] | None,
) -> None:
    record(
        keeping.audit,
        actor,
        action=action,
        kind="user",
        key=name,
        before=before,
        after=after,
        clock=keeping.clock,
    )
