"""The admin API's devices, customers and files: what an operator sees and changes, each
change in the audit log, and the files' very bytes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from api_fleet import api_client, fleet_site, recent_day
from conftest import kenshin
from kenshin.domain.operators import Role


def test_devices_are_listed_revoked_and_asked_to_resend_with_an_audit_entry_each(
    tmp_path: Path,
) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day, export=False)
    certs = tmp_path / "certs"
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(certs))
    with api_client(site, Role.OPERATOR) as (client, app):
        listed = client.get("/api/v1/devices").json()
        revoked = client.post("/api/v1/devices/U-1/revoke")
        since = f"{day}T04:00:00+09:00"
        until = f"{day + timedelta(days=1)}T00:00:00+09:00"
        queued = client.post("/api/v1/devices/U-2/resend", json={"since": since, "until": until})
        refused = [
            client.post("/api/v1/devices/U-9/revoke").status_code,
            client.post(
                "/api/v1/devices/U-2/resend", json={"since": until, "until": since}
            ).status_code,
            client.post(
                "/api/v1/devices/U-2/resend", json={"since": "x", "until": until}
            ).status_code,
        ]
        entries = app.store.audit.entries()
    assert [(d["id"], d["status"], d["revoked"]) for d in listed] == [
        ("U-1", "never_seen", False),
        ("U-2", "never_seen", False),
    ]
    assert listed[0]["certificate"].startswith("valid until ")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] == 1
    assert revoked.json()["certificate"].startswith("revoked ")
    assert queued.status_code == 200, queued.text
    assert refused == [404, 422, 422]
    assert [(e.who, e.role, e.action, e.key, e.source) for e in entries[-2:]] == [
        ("ops", "operator", "devices.revoke", "U-1", "192.0.2.7"),
        ("ops", "operator", "devices.resend", "U-2", "192.0.2.7"),
    ]
    assert f'"command": {queued.json()["command"]}' in entries[-1].after


def test_a_resend_from_before_what_a_unit_holds_is_refused_with_the_limit(tmp_path: Path) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day, export=False)
    until = f"{day}T00:00:00+09:00"
    with api_client(site, Role.OPERATOR) as (client, app):
        answers = [
            client.post("/api/v1/devices/U-2/resend", json={"since": since, "until": until})
            for since in (
                "0001-01-01T00:00:00+14:00",
                "0001-01-01T00:00:00Z",
                f"{day - timedelta(days=101)}T00:00:00+09:00",
            )
        ]
        pending = app.store.commands.pending_commands("U-2")
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert "a unit holds its readings of the last 100 days at most" in answer.json()["detail"]
    assert pending == []


def test_customers_are_added_by_an_operator_only_and_files_download_byte_for_byte(
    tmp_path: Path,
) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day)
    new = {"id": "C-002", "name": "Second", "timezone": "Europe/London"}
    with api_client(site, Role.VIEWER) as (client, _app):
        assert client.post("/api/v1/customers", json=new).status_code == 403
        files = client.get("/api/v1/customers/C-001/files").json()
        name = f"C-001_{day:%Y%m%d}.csv"
        got = client.get(f"/api/v1/customers/C-001/files/{name}")
        revisions = client.get("/api/v1/customers/C-001/revisions", params={"date": str(day)})
        assert client.get("/api/v1/customers/C-001/files/nothing.csv").status_code == 404
    assert got.content == (site / "outbox" / "C-001" / name).read_bytes()
    assert {f["name"]: (f["revision"], f["collected_at"]) for f in files}[name] == (1, None)
    assert [r["revision"] for r in revisions.json()] == [1]
    with api_client(site, Role.OPERATOR) as (client, app):
        added = client.post("/api/v1/customers", json=new)
        again = client.post("/api/v1/customers", json=new)
        bad_zone = client.post("/api/v1/customers", json={**new, "id": "C-3", "timezone": "Mars"})
        listed = [c["id"] for c in client.get("/api/v1/customers").json()]
        one = client.get("/api/v1/customers/C-002").json()
        entries = app.store.audit.entries()
    assert added.status_code == 201, added.text
    assert (again.status_code, bad_zone.status_code) == (409, 422)
    assert listed == ["C-001", "C-002"]
    assert (one["timezone"], one["layout"], one["decimals"]) == ("Europe/London", "wide", 3)
    through_api = [(e.action, e.key, e.who) for e in entries if e.source != "cli"]
    assert through_api == [("customers.add", "C-002", "ops")]
