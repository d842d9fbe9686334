"""A session is checked against its account at every request: once the account is
removed, has another role or has had its TOTP reset, the session ends (it is removed, a
security event) even where the store still held it (a sign-in saved alongside the
change, or a change made to the store by other means)."""

from __future__ import annotations

from dataclasses import replace

from kenshin.domain.operators import OperatorSession, Role
from kenshin.services.console_sessions import digest
from kenshin.services.operators import remove_operator

from .conftest import CLI, Console


def _session(console: Console) -> OperatorSession:
    session = console.store.operators.get_session(digest(console.client.cookies["kenshin_session"]))
    assert session is not None
    return session


def _refused(console: Console, session: OperatorSession) -> None:
    """The session answers 401, is gone from the store, and its refusal is an event."""
    assert console.client.get("/api/v1/session").status_code == 401
    assert console.store.operators.get_session(session.id_hash) is None
    assert console.kinds() == ["console_session_refused"]
    assert console.events[0].who == session.operator


def test_a_session_of_a_removed_account_ends(console: Console) -> None:
    console.add("alice", Role.ADMIN)  # the only admin is not removed
    console.add("bob", Role.ADMIN)
    console.sign_in("bob")
    session = _session(console)
    remove_operator(console.keeping, CLI, "bob")
    console.store.operators.save_session(session)  # a sign-in saved alongside the removal
    _refused(console, session)


def test_a_session_ends_when_its_accounts_role_changes(console: Console) -> None:
    console.add("bob", Role.ADMIN)
    console.sign_in("bob")
    session = _session(console)
    assert console.client.get("/api/v1/users").status_code == 200
    bob = console.store.operators.get_operator("bob")
    assert bob is not None
    console.store.operators.save_operator(replace(bob, role=Role.VIEWER))
    _refused(console, session)


def test_a_session_ends_when_its_accounts_totp_is_reset(console: Console) -> None:
    console.add("bob", Role.OPERATOR)
    console.sign_in("bob")
    session = _session(console)
    bob = console.store.operators.get_operator("bob")
    assert bob is not None
    console.store.operators.save_operator(replace(bob, totp_enrolled=False))
    _refused(console, session)


def test_a_session_of_an_unchanged_account_goes_on(console: Console) -> None:
    console.add("val", Role.VIEWER)
    console.sign_in("val")
    console.now[0] += 20 * 60
    assert console.client.get("/api/v1/session").status_code == 200
    assert console.kinds() == []
