"""Signing in to the console: password and TOTP, enrolment, and every way it refuses
(each refused request is also a security event)."""

from __future__ import annotations

from kenshin.domain.operators import Role
from kenshin.services.console_sessions import WRONG

from .conftest import PASSWORD, Console


def test_sign_in_with_password_and_totp_gives_a_session(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    state = console.sign_in("alice")
    assert state["name"] == "alice"
    assert state["enrolling"] is False
    assert console.client.get("/api/v1/session").json()["role"] == "admin"
    assert console.client.get("/api/v1/users").status_code == 200
    assert console.events == []


def test_enrolment_shows_a_qr_code_and_its_first_code_gives_a_new_session(
    console: Console,
) -> None:
    console.add("bob", Role.OPERATOR, enrolled=False)
    state = console.sign_in("bob")
    assert state["enrolling"] is True
    assert str(state["qr_svg"]).startswith("<svg")
    assert str(state["otpauth"]).startswith("otpauth://totp/kenshin:bob?")
    enrolling_cookie = console.client.cookies["kenshin_session"]
    # An enrolling session can do nothing else.
    assert console.client.get("/api/v1/audit").status_code == 401
    answer = console.client.post("/api/v1/session/totp", json={"code": console.code("bob")})
    assert answer.status_code == 200, answer.text
    assert console.client.cookies["kenshin_session"] != enrolling_cookie
    console.client.headers["X-CSRF-Token"] = answer.json()["csrf"]
    assert console.client.get("/api/v1/audit").status_code == 200
    operator = console.store.operators.get_operator("bob")
    assert operator is not None
    assert operator.totp_enrolled


def test_wrong_enrolment_codes_lock_the_account_and_the_right_one_is_refused_while_locked(
    console: Console,
) -> None:
    console.add("bob", Role.OPERATOR, enrolled=False)
    console.sign_in("bob")
    wrong = str((int(console.code("bob")) + 1) % 1_000_000).zfill(6)
    for _ in range(8):
        answer = console.client.post("/api/v1/session/totp", json={"code": wrong})
        assert (answer.status_code, answer.json()["detail"]) == (401, WRONG)
    right = console.client.post("/api/v1/session/totp", json={"code": console.code("bob")})
    assert (right.status_code, right.json()["detail"]) == (401, WRONG)
    assert console.kinds()[-1] == "console_login_locked"
    bob = console.store.operators.get_operator("bob")
    assert bob is not None
    assert not bob.totp_enrolled
    assert bob.locked_until > console.now[0]  # the lock stands
    console.client.headers["X-CSRF-Token"] = "none"
    assert console.client.get("/api/v1/audit").status_code == 401  # no full session
    console.now[0] += 15 * 60 + 31
    console.client.cookies.clear()
    console.sign_in("bob")
    enrolled = console.client.post("/api/v1/session/totp", json={"code": console.code("bob")})
    assert enrolled.status_code == 200, enrolled.text


def test_wrong_and_replayed_codes_are_refused_alike_and_recorded(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    wrong = str((int(console.code("alice")) + 1) % 1_000_000).zfill(6)
    answer = console.client.post(
        "/api/v1/session", json={"name": "alice", "password": PASSWORD, "code": wrong}
    )
    assert (answer.status_code, answer.json()["detail"]) == (401, WRONG)
    code = console.code("alice")
    console.sign_in("alice", code)
    console.client.cookies.clear()
    again = console.client.post(
        "/api/v1/session", json={"name": "alice", "password": PASSWORD, "code": code}
    )
    assert (again.status_code, again.json()["detail"]) == (401, WRONG)
    assert console.kinds() == ["console_login_failed", "console_totp_replayed"]


def test_five_failures_lock_the_account_for_a_quarter_of_an_hour(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    for _ in range(5):
        answer = console.client.post(
            "/api/v1/session", json={"name": "alice", "password": "not it at all"}
        )
        assert answer.json()["detail"] == WRONG
    locked = console.client.post(
        "/api/v1/session",
        json={"name": "alice", "password": PASSWORD, "code": console.code("alice")},
    )
    assert (locked.status_code, locked.json()["detail"]) == (401, WRONG)
    assert console.kinds() == ["console_login_failed"] * 5 + ["console_login_locked"]
    console.now[0] += 15 * 60 + 31
    console.sign_in("alice")


def test_a_locked_account_answers_as_an_unknown_name(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    for _ in range(5):
        console.client.post("/api/v1/session", json={"name": "alice", "password": "not it"})
    locked = console.client.post(
        "/api/v1/session",
        json={"name": "alice", "password": PASSWORD, "code": console.code("alice")},
    )
    unknown = console.client.post(
        "/api/v1/session", json={"name": "nobody", "password": PASSWORD, "code": "123456"}
    )
    assert (locked.status_code, locked.content) == (unknown.status_code, unknown.content)
    assert console.kinds()[-2:] == ["console_login_locked", "console_login_failed"]
    alice = console.store.operators.get_operator("alice")
    assert alice is not None
    assert alice.locked_until > console.now[0]


def test_an_unknown_name_answers_as_a_wrong_password(console: Console) -> None:
    answer = console.client.post("/api/v1/session", json={"name": "mallory", "password": "x"})
    assert (answer.status_code, answer.json()["detail"]) == (401, WRONG)
    assert console.kinds() == ["console_login_failed"]


def test_a_cookie_set_before_sign_in_is_not_the_one_after(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.client.cookies.set("kenshin_session", "planted-by-an-attacker", domain="127.0.0.1")
    console.sign_in("alice")
    assert console.client.cookies["kenshin_session"] != "planted-by-an-attacker"
    first = console.client.cookies["kenshin_session"]
    console.now[0] += 60  # the next code
    console.sign_in("alice")
    assert console.client.cookies["kenshin_session"] != first
    console.client.cookies.set("kenshin_session", first, domain="127.0.0.1")
    assert console.client.get("/api/v1/session").status_code == 401
    console.client.cookies.set("kenshin_session", "planted-by-an-attacker", domain="127.0.0.1")
    assert console.client.get("/api/v1/session").status_code == 401
    # Both refusals are security events: the session replaced, and the planted one.
    assert console.kinds()[-2:] == ["console_session_refused", "console_session_refused"]


def test_a_changing_request_without_the_csrf_token_is_refused(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    del console.client.headers["X-CSRF-Token"]
    answer = console.client.post(
        "/api/v1/tokens", json={"name": "script", "role": "viewer", "days": 30}
    )
    assert answer.status_code == 403
    assert console.kinds() == ["console_csrf_refused"]
    assert console.store.operators.list_tokens() == []


def test_a_session_expires_after_12_hours_and_sign_out_ends_it(console: Console) -> None:
    console.add("alice", Role.ADMIN)
    console.sign_in("alice")
    console.now[0] += 12 * 3600 + 1
    assert console.client.get("/api/v1/session").status_code == 401
    assert console.kinds() == ["console_session_refused"]
    console.sign_in("alice")
    assert console.client.delete("/api/v1/session").status_code == 204
    assert console.store.operators.list_operators()[0].name == "alice"
    assert console.client.get("/api/v1/users").status_code == 401
