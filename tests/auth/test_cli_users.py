"""``kenshin users`` and ``kenshin audit`` on a site with the default store (SQLite)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from conftest import kenshin
from kenshin.bootstrap import open_app


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    assert kenshin(site, "init", str(site)).exit_code == 0
    return site


def test_users_are_added_listed_reset_and_removed_and_audited(site: Path) -> None:
    added = kenshin(site, "users", "add", "alice", "--role", "admin")
    assert added.exit_code == 0, added.output
    assert "password (shown once): " in added.output
    (site / "pw").write_text("a long enough password\n")
    assert (
        kenshin(
            site, "users", "add", "val", "--role", "viewer", "--password-file", str(site / "pw")
        ).exit_code
        == 0
    )
    assert kenshin(site, "users", "list").output.splitlines() == [
        "name   role    totp",
        "alice  admin   to enrol",
        "val    viewer  -",
    ]
    assert json.loads(kenshin(site, "users", "list", "--json").output) == [
        {"name": "alice", "role": "admin", "totp": "to enrol"},
        {"name": "val", "role": "viewer", "totp": "-"},
    ]
    assert kenshin(site, "users", "reset-totp", "alice").exit_code == 0
    assert kenshin(site, "users", "remove", "val").exit_code == 0
    gone = kenshin(site, "users", "remove", "val")
    assert gone.exit_code == 1
    assert "no operator named 'val'" in gone.output
    csv = kenshin(site, "audit", "--csv").output.splitlines()
    assert [line.split(",")[4] for line in csv[1:]] == [
        "users.add",
        "users.add",
        "users.reset_totp",
        "users.remove",
    ]
    assert all(f"cli:{getpass.getuser()},cli" in line for line in csv[1:])
    assert kenshin(site, "audit", "--since", "2999-01-01").output == ""


def test_the_only_admin_is_not_removed_from_the_command_line(site: Path) -> None:
    assert kenshin(site, "users", "add", "alice", "--role", "admin").exit_code == 0
    refused = kenshin(site, "users", "remove", "alice")
    assert refused.exit_code == 1
    assert "alice is the only admin: add another admin first" in refused.output
    assert kenshin(site, "users", "list").output.splitlines()[1:] == ["alice  admin  to enrol"]
    assert kenshin(site, "users", "add", "root", "--role", "admin").exit_code == 0
    assert kenshin(site, "users", "remove", "alice").exit_code == 0
    assert kenshin(site, "users", "list").output.splitlines()[1:] == ["root  admin  to enrol"]


def test_a_locked_operator_is_unlocked_from_the_command_line(site: Path) -> None:
    (site / "pw").write_text("a long enough password\n")
    assert (
        kenshin(
            site, "users", "add", "val", "--role", "viewer", "--password-file", str(site / "pw")
        ).exit_code
        == 0
    )
    app = open_app(site / "kenshin.toml")
    try:
        for _ in range(5):
            app.store.operators.count_failure("val", 1_800_000_000, 5, 900)
        locked = app.store.operators.get_operator("val")
    finally:
        app.close()
    assert locked is not None
    assert locked.locked_until > 1_800_000_000
    done = kenshin(site, "users", "unlock", "val")
    assert (done.exit_code, done.output) == (0, "val may sign in again\n")
    app = open_app(site / "kenshin.toml")
    try:
        after = app.store.operators.get_operator("val")
    finally:
        app.close()
    assert after is not None
    assert (after.failures, after.locked_until, after.totp_secret) == (0, 0, locked.totp_secret)
    lines = kenshin(site, "audit", "--csv").output.splitlines()
    assert [line.split(",")[4] for line in lines[1:]] == ["users.add", "users.unlock"]
    assert kenshin(site, "users", "unlock", "nobody").exit_code == 1
