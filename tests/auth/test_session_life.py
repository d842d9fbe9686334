"""How long a console session lives: it ends after ``http.session_idle_minutes`` without a
request or ``http.session_hours`` after sign-in, whichever comes first; a request keeps it
alive with at most one write a minute; every sign-in clears away the expired ones. And
wrong guesses made at once lock the account at the fifth, not later."""

from __future__ import annotations

import threading

import pytest

from kenshin.domain.operators import Role
from kenshin.services.console_sessions import WRONG, ConsoleSessions, SignInRefused, digest

from .conftest import PASSWORD, Console


def _stored_expiry(console: Console) -> int:
    session = console.store.operators.get_session(digest(console.client.cookies["kenshin_session"]))
    assert session is not None
    return session.expires_at


def test_a_session_idle_for_30_minutes_ends_and_a_request_keeps_it_alive(
    console: Console,
) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    for _ in range(3):  # 87 minutes in all, never 30 without a request
        console.now[0] += 29 * 60
        assert console.client.get("/api/v1/session").status_code == 200
    console.now[0] += 30 * 60 + 1
    assert console.client.get("/api/v1/session").status_code == 401
    assert console.kinds() == ["console_session_refused"]


def test_a_request_moves_the_expiry_on_at_most_once_a_minute(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    first = _stored_expiry(console)
    assert first == int(console.now[0]) + 30 * 60
    console.now[0] += 59
    assert console.client.get("/api/v1/users").status_code == 200
    assert _stored_expiry(console) == first  # no write
    console.now[0] += 1
    assert console.client.get("/api/v1/users").status_code == 200
    assert _stored_expiry(console) == first + 60


def test_a_busy_session_still_ends_12_hours_after_sign_in(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    cookie = console.client.cookies["kenshin_session"]
    for _ in range(12 * 3):  # a request every 20 minutes
        console.now[0] += 20 * 60 - 1
        assert console.client.get("/api/v1/session").status_code == 200
    console.now[0] += 36
    assert console.client.get("/api/v1/session").status_code == 401
    assert console.store.operators.get_session(digest(cookie)) is None


def test_a_sign_in_clears_away_the_sessions_expired_by_then(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.add("bob", Role.VIEWER)
    console.sign_in("alice")
    idle = digest(console.client.cookies["kenshin_session"])
    console.client.cookies.clear()
    console.now[0] += 30 * 60 + 1  # nobody used alice's session: it expired
    assert console.store.operators.get_session(idle) is not None
    console.sign_in("bob")
    assert console.store.operators.get_session(idle) is None
    assert console.client.get("/api/v1/session").json()["name"] == "bob"


def test_five_wrong_guesses_at_once_lock_the_account(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    sessions = ConsoleSessions(console.keeping)
    start = threading.Barrier(5)
    refused: list[str] = []

    def guess() -> None:
        start.wait()
        with pytest.raises(SignInRefused) as refusal:
            sessions.sign_in("alice", "not the password", None, "192.0.2.9")
        refused.append(str(refusal.value))

    guessers = [threading.Thread(target=guess) for _ in range(5)]
    for guesser in guessers:
        guesser.start()
    for guesser in guessers:
        guesser.join(timeout=30)
    assert refused == [WRONG] * 5
    locked = console.store.operators.get_operator("alice")
    assert locked is not None
    assert locked.locked_until > console.now[0]
    with pytest.raises(SignInRefused, match=WRONG):
        sessions.sign_in("alice", PASSWORD, console.code("alice"), "192.0.2.9")
