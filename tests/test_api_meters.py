"""The admin API's meters, a customer's day quality and the overview: exact kWh and the
very flags of the customer's file."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from api_fleet import GAP, STEPS, api_client, file_rows, fleet_site, reading_messages, recent_day
from conftest import kenshin
from kenshin.domain.slots import day_slots, zone
from kenshin.domain.vee.clock import UnitClock


def test_a_days_heatmap_and_a_meters_day_are_the_files_kwh_and_flags(tmp_path: Path) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day)
    rows = file_rows(site, day)
    assert rows["M-1"][-1] == "A" * 9 + "EEE" + "A" * 36  # the gap, estimated by VEE
    with api_client(site) as (client, _app):
        quality = client.get(f"/api/v1/customers/C-001/quality/{day}")
        assert quality.status_code == 200, quality.text
        body = quality.json()
        assert (body["revision"], body["timezone"]) == (1, "Asia/Tokyo")
        assert body["meters"] == [
            {"meter": "M-1", "direction": "fwd", "flags": rows["M-1"][-1]},
            {"meter": "M-2", "direction": "fwd", "flags": rows["M-2"][-1]},
        ]
        assert body["starts"][0] == f"{day}T00:00:00+09:00"
        assert len(body["starts"]) == 48
        got = client.get(f"/api/v1/meters/M-1/days/{day}").json()
    assert [s["kwh"] or "" for s in got["slots"]] == rows["M-1"][3 : 3 + 48]
    assert "".join(s["flag"] for s in got["slots"]) == rows["M-1"][-1]
    # 0.7 + 0.3 + 0.4 kWh over the gap, split evenly in whole Wh, the remainder first.
    assert got["slots"][9:12] == [
        {"start": f"{day}T04:30:00+09:00", "kwh": "0.467", "flag": "E"},
        {"start": f"{day}T05:00:00+09:00", "kwh": "0.467", "flag": "E"},
        {"start": f"{day}T05:30:00+09:00", "kwh": "0.466", "flag": "E"},
    ]
    assert (got["revision"], got["reverse"]) == (1, None)


def test_the_heatmap_stays_the_files_until_a_new_revision_is_published(tmp_path: Path) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day)
    estimated = file_rows(site, day)["M-1"][-1]
    # The missing readings arrive; until the next export the file still shows estimates.
    start = day_slots(day, zone("Asia/Tokyo")).start
    readings = [{"t": _local(start + i * 1800), "fwd": 5_000 + sum(STEPS[:i])} for i in GAP]
    line = json.loads(reading_messages(day))
    line["seq"] = 2
    line["meters"] = [{**line["meters"][0], "readings": readings}]
    late = tmp_path / "late.jsonl"
    late.write_text(json.dumps(line) + "\n")
    assert kenshin(site, "import", str(late)).exit_code == 0
    with api_client(site) as (client, _app):
        before = client.get(f"/api/v1/customers/C-001/quality/{day}").json()
        assert (before["revision"], before["meters"][0]["flags"]) == (1, estimated)
        assert kenshin(site, "export", "--customer", "C-001", "--date", str(day)).exit_code == 0
        after = client.get(f"/api/v1/customers/C-001/quality/{day}").json()
    assert (after["revision"], after["meters"][0]["flags"]) == (2, "A" * 48)
    assert after["meters"][0]["flags"] == file_rows(site, day)["M-1"][-1]


def _local(t: int) -> str:
    return datetime.fromtimestamp(t, zone("Asia/Tokyo")).isoformat()


def test_meters_a_week_an_explained_slot_and_the_overview(tmp_path: Path) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day)
    with api_client(site) as (client, app):
        # U-1 was heard ten minutes ago; U-2 never.
        app.store.unit_clocks.record([UnitClock("U-1", int(time.time()) - 600)], [])
        listed = client.get("/api/v1/meters", params={"customer": "C-001"}).json()
        meter = client.get("/api/v1/meters/M-1").json()
        week = client.get(f"/api/v1/meters/M-2/week/{day}").json()
        explained = client.get("/api/v1/meters/M-1/explain", params={"slot": f"{day}T05:00"})
        # The same slot named with its offset, as a page may send any slot.
        with_offset = client.get(
            "/api/v1/meters/M-1/explain", params={"slot": f"{day}T05:00+09:00"}
        )
        wrong_offset = client.get(
            "/api/v1/meters/M-1/explain", params={"slot": f"{day}T05:00+01:00"}
        )
        overview = client.get("/api/v1/overview").json()
        missing = [
            client.get("/api/v1/meters/M-9").status_code,
            client.get(f"/api/v1/meters/M-9/days/{day}").status_code,
            client.get("/api/v1/customers/C-404/quality/2026-01-01").status_code,
        ]
        bad = [
            client.get("/api/v1/meters/M-1/days/2026-02-30").status_code,
            client.get("/api/v1/meters/M-1/days/1999-12-31").status_code,
            client.get("/api/v1/meters/M-1/explain", params={"slot": f"{day}T05:10"}).status_code,
            client.get(
                "/api/v1/meters/M-1/explain", params={"slot": "2026-13-01T05:00"}
            ).status_code,
            client.get("/api/v1/meters", params={"customer": "../x"}).status_code,
        ]
    assert [m["id"] for m in listed] == ["M-1", "M-2"]
    installed = f"{day}T00:00:00+09:00"  # its first reading, as no one said when it was fitted
    assert meter == {
        "id": "M-1",
        "device": "U-1",
        "customer": "C-001",
        "unit": "0.1kWh",
        "coefficient": 1,
        "digits": 6,
        "max_demand_kw": 100.0,
        "max_demand_of": "default",
        "installed": installed,
        "removed": None,
        "timezone": "Asia/Tokyo",
        "service": [{"installed": installed, "removed": None, "removal_by_operator": False}],
    }
    assert [d["date"] for d in week["days"]] == [str(day + timedelta(n)) for n in range(7)]
    assert [d["revision"] for d in week["days"]] == [1, None, None, None, None, None, None]
    assert "".join(s["flag"] for s in week["days"][1]["slots"]) == "N" * 48
    assert week["days"][0]["slots"][0]["kwh"] == "0.300"
    assert explained.status_code == 200, explained.text
    rows = explained.json()["rows"]
    assert [(r["direction"], r["kwh"], r["flag"]) for r in rows] == [("fwd", "0.467", "E")]
    assert explained.json()["revisions"][0]["revision"] == 1
    assert with_offset.json() == explained.json()
    assert wrong_offset.status_code == 422
    assert overview["units"] == {
        "total": 2,
        "online": 1,
        "silent": 0,
        "never_seen": 1,
        "heard_last_hour": 1,
    }
    assert overview["ingest"] == {"messages_last_hour": None, "dead_letters_last_day": 0}
    assert overview["alerts"] == {"open": 0}
    assert missing == [404, 404, 404]
    assert bad == [422, 422, 422, 422, 422]
