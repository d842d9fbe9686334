"""Every change an operator makes at the command line is one entry in the audit log:
who (cli:<OS user>), what, on which object, before and after, and never a secret."""

from __future__ import annotations

import csv
import getpass
import io
import json
from pathlib import Path

import asyncssh
import pytest

from conftest import kenshin, make_site
from kenshin.entrypoints.cli import delivery

WHO = f"cli:{getpass.getuser()}"
LINE = {
    "v": 1,
    "device": "U-1",
    "seq": 1,
    "sent": "2026-11-26T13:00:04+09:00",
    "meters": [
        {
            "meter": "M-1",
            "unit": "0.1kWh",
            "coefficient": 40,
            "digits": 4,
            "readings": [{"t": "2026-11-26T12:30:00+09:00", "fwd": 9_990}],
        }
    ],
}


def entries(site: Path) -> list[dict[str, str]]:
    """The audit log as ``kenshin audit --csv`` prints it, before/after read as JSON."""
    shown = kenshin(site, "audit", "--csv")
    assert shown.exit_code == 0, shown.output
    rows = list(csv.DictReader(io.StringIO(shown.output)))
    for row in rows:
        assert (row["who"], row["role"], row["source"]) == (WHO, "cli", "cli")
    return rows


def last(site: Path, action: str) -> tuple[str, object, object]:
    """The newest entry: it is ``action``; its key, before and after."""
    entry = entries(site)[-1]
    assert entry["action"] == action
    as_json = [json.loads(entry[k]) if entry[k] else None for k in ("before", "after")]
    return entry["key"], as_json[0], as_json[1]


def run(site: Path, *args: str) -> None:
    done = kenshin(site, *args)
    assert done.exit_code == 0, done.output


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """C-001 and C-002; U-1 of C-001 reporting meter M-1."""
    site = make_site(tmp_path, "site")
    run(site, "customers", "add", "C-002", "--name", "Other")
    run(site, "devices", "add", "U-1", "--customer", "C-001")
    messages = tmp_path / "m.jsonl"
    messages.write_text(json.dumps(LINE) + "\n")
    run(site, "import", str(messages))
    return site


def test_customer_settings_changed_are_audited_once_and_nothing_unchanged(site: Path) -> None:
    run(site, "customers", "set", "C-001", "--layout", "long", "--encoding", "utf-8")
    assert last(site, "customers.set") == ("C-001", {"layout": "wide"}, {"layout": "long"})
    count = len(entries(site))
    run(site, "customers", "set", "C-001", "--layout", "long")  # nothing changed
    assert len(entries(site)) == count


def test_credentials_are_audited_without_a_secret(site: Path, tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    (tmp_path / "id.pub").write_text(key)
    (tmp_path / "pw").write_text("a long enough password\n")
    run(
        site, "customers", "credentials", "C-001", "--password-file", str(tmp_path / "pw"),
        "--ssh-key", str(tmp_path / "id.pub"), "--allow", "192.0.2.0/24",
    )  # fmt: skip
    fingerprint = asyncssh.import_public_key(key).get_fingerprint("sha256")
    assert last(site, "customers.credentials") == (
        "C-001",
        {"password": "not set", "ssh_keys": [], "allowed": "any"},
        {
            "password": "set",
            "ssh_keys": [f"ssh-ed25519 {fingerprint}"],
            "allowed": ["192.0.2.0/24"],
        },
    )
    run(site, "customers", "credentials", "C-001", "--password-file", str(tmp_path / "pw"))
    _, before, after = last(site, "customers.credentials")
    assert before == {"password": "set", "ssh_keys": [f"ssh-ed25519 {fingerprint}"],
                      "allowed": ["192.0.2.0/24"]}  # fmt: skip
    assert after == before | {"password": "changed"}
    log = kenshin(site, "audit", "--csv").output
    assert "argon2" not in log
    assert key.split()[1] not in log


def test_an_unlock_request_is_audited(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "UNLOCK_WAIT_S", 0.0)  # no file server runs here
    run(site, "customers", "unlock", "C-001", "--address", "192.0.2.7")
    key, before, after = last(site, "customers.unlock")
    assert (key, before) == ("C-001", None)
    assert isinstance(after, dict)
    assert after["address"] == "192.0.2.7"


def test_meters_demand_and_service_are_audited(site: Path) -> None:
    run(site, "meters", "set", "M-1", "--max-demand-kw", "150")
    assert last(site, "meters.set") == (
        "M-1",
        {"max_demand_w": None},
        {"max_demand_w": 150_000},
    )
    run(site, "meters", "service", "M-1", "--removed", "2026-11-27T00:00+09:00")
    assert last(site, "meters.service") == (
        "M-1",
        {"installed": "2026-11-26T03:30:00+00:00", "removed": None},
        {"installed": "2026-11-26T03:30:00+00:00", "removed": "2026-11-26T15:00:00+00:00"},
    )


def test_a_device_moved_is_audited(site: Path) -> None:
    run(site, "devices", "move", "U-1", "--customer", "C-002", "--force")
    assert last(site, "devices.move") == ("U-1", {"customer": "C-001"}, {"customer": "C-002"})
    assert [e["action"] for e in entries(site)] == [
        "customers.add",
        "customers.add",
        "devices.add",
        "devices.move",
    ]
