"""A sign-in sent by a page of another site (login CSRF: a victim's browser signed in to
the attacker's account) is refused, and is a security event; one from the console's own
page, or from a script (no browser header at all), is taken."""

from __future__ import annotations

import pytest

from kenshin.domain.operators import Role

from .conftest import PASSWORD, Console

SIGN_IN = {"name": "vera", "password": PASSWORD}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1:8081"},  # another port is another site
        {"Origin": "null"},  # an opaque origin: a sandboxed frame, a page hiding itself
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": "https://evil.example/login.html"},
    ],
)
def test_a_sign_in_from_another_site_is_refused(console: Console, headers: dict[str, str]) -> None:
    console.add("vera", Role.VIEWER)
    answer = console.client.post("/api/v1/session", json=SIGN_IN, headers=headers)
    assert answer.status_code == 403
    assert "kenshin_session" not in console.client.cookies
    assert console.kinds() == ["console_csrf_refused"]
    assert "from another site" in console.events[0].detail


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a script
        {"Origin": "http://127.0.0.1"},
        {"Origin": "HTTP://127.0.0.1:80", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # the console: no-referrer
        {"Referer": "http://127.0.0.1/"},
    ],
)
def test_a_sign_in_from_this_server_or_a_script_is_taken(
    console: Console, headers: dict[str, str]
) -> None:
    console.add("vera", Role.VIEWER)
    answer = console.client.post("/api/v1/session", json=SIGN_IN, headers=headers)
    assert answer.status_code == 200, answer.text
    assert console.events == []
