"""Changing how a customer collects its files, by an operator: its login to the file
servers (password, SSH keys, the networks it may log in from) and requests to unlock
it after failed logins; each change in the audit log, never a secret in it."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import replace

from kenshin.domain.accounts import Account
from kenshin.domain.operators import Actor
from kenshin.errors import NotFoundError
from kenshin.ports import Deliveries, Registry
from kenshin.ports.operators import AuditLog
from kenshin.services import audit


def set_credentials(  # noqa: PLR0913 - the account's parts, by keyword
    registry: Registry,
    deliveries: Deliveries,
    by: tuple[AuditLog, Actor],
    customer_id: str,
    *,
    password_hash: str | None = None,
    keys: Sequence[str] = (),
    clear_keys: bool = False,
    allowed: tuple[str, ...] | None = None,
    now: int,
) -> Account:
    """Change customer ``customer_id``'s login (NotFoundError for an unknown customer):
    the password's ``password_hash`` if given, the SSH ``keys`` added (after every key
    is removed, with ``clear_keys``), the networks ``allowed`` if given (none: any
    address). The account as saved; one audit entry (by the log and actor ``by``) if it
    changed, showing the password as set or changed and each key by its fingerprint."""
    if registry.get_customer(customer_id) is None:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    old = deliveries.get_account(customer_id) or Account(customer_id)
    account = old
    if password_hash is not None:
        account = replace(account, password_hash=password_hash)
    kept = () if clear_keys else account.ssh_keys
    account = replace(account, ssh_keys=tuple(dict.fromkeys([*kept, *keys])))
    if allowed is not None:
        account = replace(account, allowed=allowed)
    deliveries.save_account(account)
    if account != old:
        again = password_hash is not None and old.password_hash is not None
        before, after = account_record(old), account_record(account, password_changed=again)
        log, actor = by
        audit.record(
            log,
            actor,
            action="customers.credentials",
            kind="customer",
            key=customer_id,
            before=before,
            after=after,
            clock=lambda: now,
        )
    return account


def request_unlock(
    registry: Registry,
    deliveries: Deliveries,
    by: tuple[AuditLog, Actor],
    customer_id: str,
    address: str | None,
    *,
    now: int,
) -> int:
    """Ask the file servers to clear customer ``customer_id``'s failed logins (those from
    ``address`` only, if given) and unlock the addresses (NotFoundError for an unknown
    customer); the request's id, in the audit log."""
    if registry.get_customer(customer_id) is None:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    request_id = deliveries.request_unlock(customer_id, address, now)
    log, actor = by
    audit.record(
        log,
        actor,
        action="customers.unlock",
        kind="customer",
        key=customer_id,
        after={"request": request_id, "address": address or "any"},
        clock=lambda: now,
    )
    return request_id


def account_record(account: Account, *, password_changed: bool = False) -> dict[str, object]:
    """The account as the audit log shows it: no secret (the password as "set", "not
    set" or "changed", each SSH key by its SHA256 fingerprint)."""
    password = "changed" if password_changed else "set" if account.password_hash else "not set"
    return {
        "password": password,
        "ssh_keys": [fingerprint(k) for k in account.ssh_keys],
        "allowed": list(account.allowed) or "any",
    }


def fingerprint(key: str) -> str:
    """An OpenSSH public key line's fingerprint as ``ssh-keygen -l`` shows it
    (``SHA256:...``), with its type."""
    parts = key.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, binascii.Error):
        return "unreadable key"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return f"{parts[0]} SHA256:{digest}"
