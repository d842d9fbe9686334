"""The admin API's dead letters, conflicts, security events and daily report: what an
operator reads of what went wrong, on a real SQLite site."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from api_fleet import api_client, fleet_site, reading_messages, recent_day
from conftest import kenshin, make_site
from kenshin.domain.model import DeadLetter, SecurityEvent
from kenshin.domain.operators import Role


def test_dead_letters_conflicts_and_the_report_as_a_viewer_reads_them_not_security_events(
    tmp_path: Path,
) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day, export=False)
    again = json.loads(reading_messages(day))
    again["seq"] = 2
    again["meters"][1]["readings"] = [{**again["meters"][1]["readings"][5], "fwd": 1}]
    bad = tmp_path / "again.jsonl"
    bad.write_text(json.dumps(again) + "\n" + "not json \xe9\n")
    assert kenshin(site, "import", str(bad)).exit_code == 0
    with api_client(site, Role.VIEWER) as (client, app):
        now = int(app.store.dead_letters.list_dead_letters(1)[0].received_at)
        app.store.alerts.add_security_events(
            [SecurityEvent("certificate_refused", now, "198.51.100.4:5555", "U-9", "revoked")]
        )
        letters = client.get("/api/v1/dead-letters").json()
        later = client.get("/api/v1/dead-letters", params={"since": "2199-01-01T00:00:00Z"})
        conflicts = client.get("/api/v1/conflicts").json()
        hidden = client.get("/api/v1/security-events")  # what clients tried: not a viewer's
        report = client.get("/api/v1/report", params={"date": day.isoformat()})
        unknown = client.get("/api/v1/report", params={"date": str(day), "customer": "C-404"})
        refused = [
            client.get("/api/v1/dead-letters", params={"since": "yesterday"}).status_code,
            client.get("/api/v1/conflicts", params={"limit": 0}).status_code,
            client.get("/api/v1/report", params={"date": "1999-12-31"}).status_code,
            client.get("/api/v1/report", params={"date": "2026-02-30"}).status_code,
        ]
    assert [(d["reason"][:4] != "", d["payload_text"], d["truncated"]) for d in letters] == [
        (True, "not json \xe9", False)
    ]
    assert base64.b64decode(letters[0]["payload_base64"]) == "not json \xe9".encode()
    assert letters[0]["received_at"].endswith("+00:00")  # no device: UTC
    assert later.status_code == 200
    assert later.json() == []
    slot = again["meters"][1]["readings"][0]["t"]
    assert [(c["meter"], c["device"], c["t"], c["received_fwd"]) for c in conflicts] == [
        ("M-2", "U-1", slot, 1)
    ]
    assert conflicts[0]["t"].endswith("+09:00")  # in the customer's zone
    assert hidden.status_code == 403
    with api_client(site, Role.OPERATOR) as (client, app):
        events = client.get("/api/v1/security-events").json()
    assert [(e["kind"], e["severity"], e["who"], e["address"]) for e in events] == [
        ("certificate_refused", "critical", "U-9", "198.51.100.4:5555")
    ]
    assert report.status_code == 200, report.text
    found = report.json()
    assert found["day"] == day.isoformat()
    assert found["totals"]["meters"] == 2
    assert found["totals"]["dead_letters"] == 0  # the letter came days after the day
    problems = {m["meter"]: m["missing"] for c in found["customers"] for m in c["problems"]}
    assert problems["M-1"] >= 2  # the readings missed at two boundaries
    assert any(c["kind"] in {"missing", "silent"} for c in found["causes"])
    assert unknown.status_code == 404
    assert refused == [422, 422, 422, 422]


def test_a_flood_of_refusals_does_not_push_the_newest_events_off_the_list(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    with api_client(site, Role.OPERATOR) as (client, app):
        now = int(time.time())
        flood = [
            SecurityEvent("console_session_refused", now - 3600 + n, "203.0.113.5:1", None, "")
            for n in range(1_000)
        ]
        attack = SecurityEvent("certificate_refused", now - 60, "198.51.100.4:5555", "U-9", "")
        app.store.alerts.add_security_events([*flood, attack])
        app.store.dead_letters.add_dead_letters(
            [DeadLetter("mqtt", f"bad {n}", b"x", now - 600 + n, None) for n in range(3)]
        )
        events = client.get("/api/v1/security-events")
        fewer = client.get("/api/v1/security-events", params={"limit": 1_001})
        letters = client.get("/api/v1/dead-letters", params={"limit": 2})
        all_letters = client.get("/api/v1/dead-letters", params={"limit": 3})
    listed = events.json()
    assert len(listed) == 1_000
    assert (listed[0]["kind"], listed[0]["who"]) == ("certificate_refused", "U-9")
    assert [e["at"] for e in listed] == sorted((e["at"] for e in listed), reverse=True)
    assert events.headers["X-Truncated"] == "true"  # older ones were left out
    assert fewer.headers["X-Truncated"] == "false"
    assert [d["reason"] for d in letters.json()] == ["bad 2", "bad 1"]
    assert letters.headers["X-Truncated"] == "true"
    assert [d["reason"] for d in all_letters.json()] == ["bad 2", "bad 1", "bad 0"]
    assert all_letters.headers["X-Truncated"] == "false"
