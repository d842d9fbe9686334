"""An admin API on a memory store with a clock of the test's own, its security events
kept in a list, and a TestClient (in-process: no socket)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.bootstrap import App
from kenshin.config import Settings
from kenshin.domain.model import SecurityEvent
from kenshin.domain.operators import Actor, Role
from kenshin.domain.totp import code_at
from kenshin.entrypoints.api.app import make_api
from kenshin.entrypoints.api.context import ApiContext
from kenshin.services.operators import Keeping, add_operator, keeping_of
from kenshin.services.security import SecurityLog

CLI = Actor("cli:test", "cli", "cli")
PASSWORD = "correct horse battery"
T0 = 1_800_000_000.0


@dataclass
class Console:
    """The API under test: ``now`` its clock, ``events`` its security events."""

    store: MemoryStore
    client: TestClient
    now: list[float] = field(default_factory=lambda: [T0])
    events: list[SecurityEvent] = field(default_factory=list)

    @property
    def keeping(self) -> Keeping:
        return keeping_of(self.store, lambda: self.now[0])

    def kinds(self) -> list[str]:
        return [str(e.kind) for e in self.events]

    def add(self, name: str, role: Role, *, enrolled: bool = True) -> None:
        """An account; enrolled in TOTP (its code then from ``code``) unless told not."""
        add_operator(self.keeping, CLI, name, role, PASSWORD)
        if enrolled and role.needs_totp:
            operator = self.store.operators.get_operator(name)
            assert operator is not None
            from dataclasses import replace

            self.store.operators.save_operator(replace(operator, totp_enrolled=True))

    def code(self, name: str, offset_s: float = 0) -> str:
        operator = self.store.operators.get_operator(name)
        assert operator is not None
        assert operator.totp_secret is not None
        return code_at(operator.totp_secret, self.now[0] + offset_s)

    def sign_in(self, name: str, code: str | None = None) -> dict[str, object]:
        """Sign in (with the current code for roles that need one); the session state,
        its csrf then sent on changing requests by ``client``."""
        if code is None and (op := self.store.operators.get_operator(name)) and op.totp_enrolled:
            code = self.code(name)
        answer = self.client.post(
            "/api/v1/session", json={"name": name, "password": PASSWORD, "code": code}
        )
        assert answer.status_code == 200, answer.text
        state: dict[str, object] = answer.json()
        self.client.headers["X-CSRF-Token"] = str(state["csrf"])
        return state


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    store = MemoryStore()
    app = App(Settings(), tmp_path, store, LocalOutbox(tmp_path / "outbox"))
    now = [T0]
    events: list[SecurityEvent] = []
    security = SecurityLog(events.append, clock=lambda: now[0])
    context = ApiContext(app, security, clock=lambda: now[0], secure_cookies=False)
    with TestClient(make_api(context), base_url="http://127.0.0.1") as client:
        yield Console(store, client, now, events)
