"""Before any route: a request without credentials is refused unread, a body is read
only up to its limit and within its time, and a 405 names every method of the path."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.bootstrap import App
from kenshin.config import Settings
from kenshin.entrypoints.api import guard
from served_api import served

from .conftest import Console


def test_a_change_without_credentials_is_refused_before_its_body_is_read(
    console: Console,
) -> None:
    for path in ("/api/v1/users", "/api/v1/tokens", "/api/v1/customers", "/api/v1/devices"):
        answer = console.client.post(
            path, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()) == (401, {"detail": "sign in first"}), path


def test_signing_in_and_the_document_need_no_credentials(console: Console) -> None:
    assert console.client.get("/api/v1/openapi.json").status_code == 200
    wrong = console.client.post("/api/v1/session", json={"name": "x", "password": "y"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] != "sign in first"  # the sign-in route answered


def test_a_body_over_the_limit_is_refused(console: Console) -> None:
    answer = console.client.post("/api/v1/session", content=b"x" * (guard.MAX_BODY + 1))
    assert answer.status_code == 413


def test_a_body_that_never_comes_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "BODY_TIMEOUT_S", 0.05)
    sent: list[dict[str, Any]] = []

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError

    async def send(message: Any) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the request went on")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/session",
        "headers": [(b"content-length", b"100")],
    }
    asyncio.run(guard.RequestGuard(app)(scope, never, send))
    assert sent[0]["status"] == 408


def test_a_405_names_every_method_of_the_path(console: Console) -> None:
    answer = console.client.put("/api/v1/users", headers={"Authorization": "Bearer ksn_x"})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"


@pytest.mark.integration
def test_an_address_given_by_a_header_is_not_believed(tmp_path: Path) -> None:
    store = MemoryStore()
    app = App(Settings(), tmp_path, store, LocalOutbox(tmp_path / "outbox"))
    with served(app) as base:
        request = urllib.request.Request(
            f"{base}/api/v1/session",
            data=json.dumps({"name": "nobody", "password": "wrong"}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
    events = store.alerts.security_events(0)
    assert [e.address for e in events] == ["127.0.0.1"]
