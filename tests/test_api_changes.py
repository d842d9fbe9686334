"""The change records of a customer's day through the admin API: a late reading that
fills a gap shows as the slots it changed, and the record's file downloads as it is."""

from __future__ import annotations

from pathlib import Path

from api_fleet import api_client, fleet_site, reading_messages, recent_day
from conftest import kenshin


def test_a_late_reading_shows_as_the_slots_it_changed(tmp_path: Path) -> None:
    day = recent_day()
    site = fleet_site(tmp_path, day)
    late = tmp_path / "late.jsonl"
    late.write_text(reading_messages(day, gap=()).replace('"seq": 1', '"seq": 2'))
    assert kenshin(site, "import", str(late)).exit_code == 0
    done = kenshin(site, "export", "--customer", "C-001", "--date", day.isoformat())
    assert done.exit_code == 0, done.output
    with api_client(site) as (client, _app):
        found = client.get("/api/v1/customers/C-001/changes", params={"date": day.isoformat()})
        record = found.json()["records"][0]
        file = client.get(record["download"])
        before = client.get(
            "/api/v1/customers/C-001/changes", params={"date": (day.replace(day=1)).isoformat()}
        )
        unknown = client.get("/api/v1/customers/C-9/changes", params={"date": day.isoformat()})
    assert found.status_code == 200, found.text
    assert [r["revision"] for r in found.json()["records"]] == [2]
    rows = record["changes"]
    assert {(r["meter"], r["before_flag"], r["after_flag"]) for r in rows} == {("M-1", "E", "A")}
    assert len(rows) == 3  # the slots around the two missing boundaries
    assert all(r["reason"] == "late reading replaced the estimate" for r in rows)
    assert all(r["before"] != r["after"] for r in rows)
    assert rows[0]["slot"].startswith(f"{day.isoformat()}T04:30")
    assert file.status_code == 200
    assert file.content.decode().count("\r\n") == 4  # the header and the three slots
    assert before.json()["records"] == []
    assert unknown.status_code == 404
