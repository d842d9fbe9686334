"""The role matrix: every operation of the admin API, for every role and for no session,
signed in as the console does (password, TOTP code, session cookie, CSRF header), with
the answer expected each time, and each change in the audit log exactly once.

The operations are those of the served OpenAPI document: a route added without a row
here fails ``test_every_operation_has_a_row``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_fleet import fleet_site, recent_day
from kenshin.bootstrap import App, open_app
from kenshin.domain.operators import Action, Actor, Role, allows
from kenshin.domain.totp import code_at
from kenshin.entrypoints.api.app import make_api
from kenshin.entrypoints.api.context import ApiContext
from kenshin.services.api_tokens import make_token
from kenshin.services.operators import add_operator, keeping_of

CLI = Actor("cli:test", "cli", "cli")
PASSWORD = "a password long enough"
DAY = recent_day()
SIGNED_IN = None  # a row's action when any signed-in role may do it


@dataclass(frozen=True)
class Row:
    """An operation: who may do it (``SIGNED_IN``: anyone signed in), what it answers
    when allowed, its body, and the audit action it records (None: it reads)."""

    method: str
    path: str
    action: Action | None
    status: int
    body: Callable[[Role], dict[str, object]] | None = None
    audited: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def _day(offset: int = 0) -> str:
    return (DAY + timedelta(days=offset)).isoformat()


ROWS = [
    Row("GET", "/api/v1/session", SIGNED_IN, 200),
    Row("GET", "/api/v1/overview", Action.READ, 200),
    Row("GET", "/api/v1/customers", Action.READ, 200),
    Row("GET", "/api/v1/customers/C-001", Action.READ, 200),
    Row("GET", f"/api/v1/customers/C-001/quality/{_day()}", Action.READ, 200),
    Row("GET", "/api/v1/customers/C-001/files", Action.READ, 200),
    Row("GET", f"/api/v1/customers/C-001/files/C-001_{DAY:%Y%m%d}.csv", Action.READ, 200),
    Row("GET", "/api/v1/customers/C-001/revisions", Action.READ, 200, params={"date": _day()}),
    Row("GET", "/api/v1/customers/C-001/changes", Action.READ, 200, params={"date": _day()}),
    Row("GET", "/api/v1/devices", Action.READ, 200),
    Row("GET", "/api/v1/meters", Action.READ, 200),
    Row("GET", "/api/v1/meters/M-1", Action.READ, 200),
    Row("GET", f"/api/v1/meters/M-1/days/{_day()}", Action.READ, 200),
    Row("GET", f"/api/v1/meters/M-1/week/{_day(-6)}", Action.READ, 200),
    Row("GET", "/api/v1/meters/M-1/explain", Action.READ, 200, params={"slot": f"{_day()}T05:00"}),
    Row("GET", "/api/v1/alerts", Action.READ, 200),
    Row("GET", "/api/v1/dead-letters", Action.READ, 200),
    Row("GET", "/api/v1/conflicts", Action.READ, 200),
    Row("GET", "/api/v1/security-events", Action.READ_AUDIT, 200),
    Row("GET", "/api/v1/report", Action.READ, 200, params={"date": _day()}),
    # No alert is open on the site: the operator's acknowledgement finds none (404).
    Row("POST", "/api/v1/alerts/silent:U-2/acknowledge", Action.CHANGE_FLEET, 404),
    Row(
        "POST",
        "/api/v1/alerts/silent:U-2/silence",
        Action.CHANGE_FLEET,
        200,
        body=lambda _role: {"until": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
        audited="alerts.silence",
    ),
    Row(
        "POST",
        "/api/v1/customers",
        Action.CHANGE_FLEET,
        201,
        body=lambda role: {"id": f"C-{role.value}", "name": "New", "timezone": "Asia/Tokyo"},
        audited="customers.add",
    ),
    Row(
        "POST",
        "/api/v1/devices/U-2/resend",
        Action.CHANGE_FLEET,
        200,
        body=lambda _role: {
            "since": f"{_day()}T00:00:00+09:00",
            "until": f"{_day()}T06:00:00+09:00",
        },
        audited="devices.resend",
    ),
    Row(
        "POST",
        "/api/v1/devices",
        Action.CHANGE_FLEET,
        201,
        body=lambda role: {"id": f"U-{role.value}", "customer": "C-001"},
        audited="devices.add",
    ),
    # Each role's own bundle of U-2 waits on the shelf (see ``site``).
    Row("GET", "/api/v1/devices/U-2/bundle", Action.CHANGE_FLEET, 200, params={"ticket": "?"}),
    Row("POST", "/api/v1/devices/U-2/revoke", Action.CHANGE_FLEET, 200, audited="devices.revoke"),
    Row("GET", "/api/v1/audit", Action.READ_AUDIT, 200),
    Row("GET", "/api/v1/audit.csv", Action.READ_AUDIT, 200),
    Row("GET", "/api/v1/users", Action.MANAGE_USERS, 200),
    Row(
        "POST",
        "/api/v1/users",
        Action.MANAGE_USERS,
        201,
        body=lambda role: {"name": f"new-{role.value}", "role": "viewer", "password": PASSWORD},
        audited="users.add",
    ),
    Row(
        "POST",
        "/api/v1/users/spare/reset-totp",
        Action.MANAGE_USERS,
        200,
        audited="users.reset_totp",
    ),
    Row("POST", "/api/v1/users/spare/unlock", Action.MANAGE_USERS, 200, audited="users.unlock"),
    Row("DELETE", "/api/v1/users/spare", Action.MANAGE_USERS, 204, audited="users.remove"),
    Row("GET", "/api/v1/tokens", Action.MANAGE_USERS, 200),
    Row(
        "POST",
        "/api/v1/tokens",
        Action.MANAGE_USERS,
        201,
        body=lambda _role: {"name": "script", "role": "viewer", "days": 30},
        audited="tokens.add",
    ),
    Row("DELETE", "/api/v1/tokens/{token}", Action.MANAGE_USERS, 204, audited="tokens.revoke"),
    Row("DELETE", "/api/v1/session", SIGNED_IN, 204),  # last: it signs out
]
# Operations outside the matrix, and where they are tested instead.
NOT_ROLE_BOUND = {
    ("POST", "/api/v1/session"): "signing in: tests/auth/test_sign_in.py",
    ("POST", "/api/v1/session/totp"): "an enrolling session's first code: tests/auth",
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site with C-001's fleet, its day exported, and one account of each role."""
    root = tmp_path_factory.mktemp("matrix")
    site = fleet_site(root, DAY)
    app = open_app(site / "kenshin.toml")
    try:
        keeping = keeping_of(app.store)
        for role in Role:
            add_operator(keeping, CLI, role.value, role, PASSWORD)
            enrolled = app.store.operators.get_operator(role.value)
            assert enrolled is not None
            app.store.operators.save_operator(replace(enrolled, totp_enrolled=True))
        add_operator(keeping, CLI, "spare", Role.VIEWER, PASSWORD)
    finally:
        app.close()
    return site


@dataclass
class Site:
    app: App
    client: TestClient
    token_id: str
    tickets: dict[str, str]


@pytest.fixture
def site(template: Path, tmp_path: Path) -> Iterator[Site]:
    """A copy of the template, its admin API in process."""
    copy = tmp_path / "site"
    shutil.copytree(template, copy)
    app = open_app(copy / "kenshin.toml")
    try:
        _, token = make_token(
            keeping_of(app.store), CLI, name="old", role=Role.VIEWER, maker_role=Role.ADMIN, days=9
        )
        context = ApiContext(app, secure_cookies=False)
        now = int(time.time())
        tickets = {r.value: context.bundles.put("U-2", r.value, b"PK", now=now)[0] for r in Role}
        with TestClient(make_api(context), base_url="http://127.0.0.1") as client:
            yield Site(app, client, token.id, tickets)
    finally:
        app.close()


def _sign_in(site: Site, role: Role) -> None:
    operator = site.app.store.operators.get_operator(role.value)
    assert operator is not None
    code = code_at(operator.totp_secret, time.time()) if operator.totp_secret else None
    answer = site.client.post(
        "/api/v1/session", json={"name": role.value, "password": PASSWORD, "code": code}
    )
    assert answer.status_code == 200, answer.text
    site.client.headers["X-CSRF-Token"] = answer.json()["csrf"]


def _call(site: Site, row: Row, role: Role) -> tuple[int, list[str]]:
    """The status of the row's request, and the audit actions it added."""
    before = len(site.app.store.audit.entries(0, 100_000))
    path = row.path.replace("{token}", site.token_id)
    body = row.body(role) if row.body else None
    params = {k: site.tickets[role.value] if v == "?" else v for k, v in row.params.items()}
    answer = site.client.request(row.method, path, params=params or None, json=body)
    added = site.app.store.audit.entries(0, 100_000)[before:]
    return answer.status_code, [e.action for e in added]


@pytest.mark.parametrize("role", [*Role, None], ids=[*(r.value for r in Role), "no-session"])
def test_each_operation_answers_as_the_role_allows(site: Site, role: Role | None) -> None:
    if role is not None:
        _sign_in(site, role)
    got: dict[str, tuple[int, list[str]]] = {}
    expected: dict[str, tuple[int, list[str]]] = {}
    for row in ROWS:
        status, actions = _call(site, row, role or Role.VIEWER)
        key = f"{row.method} {row.path}"
        got[key] = (status, actions)
        if role is None:
            expected[key] = (401, [])
        elif row.action is not None and not allows(role, row.action):
            expected[key] = (403, [])
        else:
            expected[key] = (row.status, [row.audited] if row.audited else [])
    assert got == expected


def test_every_operation_has_a_row(site: Site) -> None:
    document = site.client.get("/api/v1/openapi.json").json()
    served = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    rows = {(r.method, _template(r.path)) for r in ROWS} | set(NOT_ROLE_BOUND)
    assert served == rows


def _template(path: str) -> str:
    """The document's path of a row's concrete one."""
    names = {
        "C-001": "{customer_id}",
        "U-2": "{device_id}",
        "M-1": "{meter_id}",
        "spare": "{name}",
        "silent:U-2": "{key}",
        "{token}": "{token_id}",
        _day(): "{day}",
        _day(-6): "{day}",
        f"C-001_{DAY:%Y%m%d}.csv": "{name}",
    }
    return "/".join(names.get(part, part) for part in path.split("/"))
