"""The admin API's alerts: the open ones with who acknowledged them, acknowledging and
silencing (an operator may, a viewer may not), each change in the audit log once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from api_fleet import api_client
from conftest import make_site
from kenshin.config_alerts import AlertsConfig
from kenshin.domain.alerts import Alert, AlertState, Severity
from kenshin.domain.observations import ComponentDown, DiskSpace, Observations
from kenshin.domain.operators import Role
from kenshin.domain.slots import zone
from kenshin.services.alerting import Alerting

TOKYO = zone("Asia/Tokyo")
SINCE = int(time.time()) - 600
UNTIL = datetime.fromtimestamp(SINCE + 7 * 86_400, UTC).replace(microsecond=0)
DISK = Alert("disk:/data", Severity.CRITICAL, "Disk low", "Only 1 GiB", None, SINCE, "UTC")
LOW = DiskSpace("/data", 1 << 20, 100 << 30)
SILENT = Alert("silent:C-001", Severity.WARNING, "Silent", "U-1", "C-001", SINCE, "Asia/Tokyo")


def test_open_alerts_are_acknowledged_and_silenced_by_an_operator_each_change_audited(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    with api_client(site, Role.VIEWER) as (viewer, app):
        app.store.alerts.save_round([AlertState(SILENT, SINCE), AlertState(DISK, SINCE)], [], [])
        seen = viewer.get("/api/v1/alerts").json()
        refused = [
            viewer.post("/api/v1/alerts/disk:/data/acknowledge").status_code,
            viewer.post(
                "/api/v1/alerts/disk:/data/silence", json={"until": "2199-01-01T00:00:00Z"}
            ).status_code,
        ]
    with api_client(site, Role.OPERATOR) as (client, app):
        acked = client.post("/api/v1/alerts/disk:/data/acknowledge")
        silenced = client.post(
            "/api/v1/alerts/down:ftps/silence", json={"until": UNTIL.astimezone(TOKYO).isoformat()}
        )
        bad = [
            client.post("/api/v1/alerts/nothing/acknowledge").status_code,
            client.post(
                "/api/v1/alerts/disk:/data/silence", json={"until": "2000-01-01T00:00:00Z"}
            ).status_code,
            client.post("/api/v1/alerts/disk:/data/silence", json={"until": "soon"}).status_code,
            client.post(
                "/api/v1/alerts/disk:/data/silence", json={"until": "2199-01-01T00:00:00"}
            ).status_code,
        ]
        listed = client.get("/api/v1/alerts").json()
        entries = app.store.audit.entries()
    assert [(a["key"], a["severity"], a["acknowledged_by"]) for a in seen["open"]] == [
        ("disk:/data", "critical", None),
        ("silent:C-001", "warning", None),
    ]
    assert refused == [403, 403]
    assert acked.status_code == 200, acked.text
    assert acked.json()["mark"]["acknowledged_by"] == "ops"
    assert silenced.status_code == 200, silenced.text
    assert bad == [404, 422, 422, 422]
    disk = listed["open"][0]
    assert (disk["acknowledged_by"], disk["acknowledged_at"] is not None) == ("ops", True)
    assert listed["silenced"] == [
        {"key": "down:ftps", "silenced_until": UNTIL.isoformat(), "silenced_by": "ops"}
    ]
    assert [(e.who, e.action, e.key) for e in entries if e.action.startswith("alerts.")] == [
        ("ops", "alerts.acknowledge", "disk:/data"),
        ("ops", "alerts.silence", "down:ftps"),
    ]


def test_an_alert_that_ended_is_in_the_history_newest_first(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    now = int(time.time())
    down = ComponentDown("device endpoint", now - 120, "TLS files missing")
    with api_client(site, Role.VIEWER) as (client, app):
        watch = Alerting(app.store, [], AlertsConfig())
        watch.tick(Observations(now - 60, down=[down], disks=[LOW]))
        watch.tick(Observations(now - 30, disks=[LOW]))  # the endpoint runs again
        seen = client.get("/api/v1/alerts").json()
        later = client.get("/api/v1/alerts", params={"since": "2199-01-01T00:00:00Z"}).json()
        bad = client.get("/api/v1/alerts", params={"since": "soon"})
    assert [a["key"] for a in seen["open"]] == ["disk:/data"]
    assert [(a["key"], a["severity"]) for a in seen["history"]] == [
        ("down:device endpoint", "critical")
    ]
    ended = seen["history"][0]
    assert datetime.fromisoformat(ended["resolved_at"]).timestamp() == now - 30
    assert datetime.fromisoformat(ended["since"]).timestamp() == now - 120
    assert "TLS files missing" in ended["text"]
    assert later["history"] == []
    assert bad.status_code == 422
