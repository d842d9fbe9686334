"""The meters and revisions commands: what an operator sees and can change."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import kenshin, make_site
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Receipt

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
            "readings": [
                {"t": "2026-11-26T12:30:00+09:00", "fwd": 9_990},
                {"t": "2026-11-26T13:00:00+09:00", "fwd": 10},
            ],
        }
    ],
}


def site_with_a_meter(tmp_path: Path) -> Path:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    messages = tmp_path / "m.jsonl"
    messages.write_text(json.dumps(LINE) + "\n")
    assert kenshin(site, "import", str(messages)).exit_code == 0
    return site


def slot_cells(site: Path) -> list[str]:
    assert kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-26").exit_code == 0
    lines = (site / "outbox" / "C-001" / "C-001_20261126.csv").read_text().splitlines()
    return lines[1].split(",")[3 + 25 : 3 + 26]  # 12:30-13:00 is the 26th slot


def test_meters_are_listed_with_their_spec(tmp_path: Path) -> None:
    site = site_with_a_meter(tmp_path)
    listed = kenshin(site, "meters", "list", "--device", "U-1").output.splitlines()
    assert listed[0].split() == [
        "id",
        "device",
        "unit",
        "coefficient",
        "digits",
        "max_demand_kw",
        "max_demand_of",
        "installed",
        "removed",
    ]
    # In service from its first reading (12:30 in Tokyo), as no one said when it was fitted.
    spec = ["M-1", "U-1", "0.1kWh", "40", "4", "4000", "default", "2026-11-26T12:30+09:00", "-"]
    assert listed[1].split() == spec
    assert kenshin(site, "meters", "list", "--device", "U-9").output.splitlines()[1:] == []


def test_a_meters_own_maximum_demand_decides_rollover_or_reset(tmp_path: Path) -> None:
    site = site_with_a_meter(tmp_path)
    # 9,990 -> 10 wraps by 20 steps of 0.1 kWh x 40 = 80 kWh in half an hour: 160 kW,
    # which a meter of coefficient 40 can draw (40 x the default 100 kW of a direct one).
    assert slot_cells(site) == ["80.000"]
    done = kenshin(site, "meters", "set", "M-1", "--max-demand-kw", "150")
    assert (done.exit_code, done.output) == (0, "M-1: maximum demand 150 kW\n")
    assert slot_cells(site) == [""]  # beyond this meter's own 150 kW: a reset, no value
    kenshin(site, "meters", "set", "M-1", "--max-demand-kw", "200")
    assert slot_cells(site) == ["80.000"]  # possible for a 200 kW meter: a rollover
    assert kenshin(site, "meters", "list").output.splitlines()[1].split()[5:7] == ["200", "meter"]


def ct_meter_site(tmp_path: Path, start: int) -> Path:
    """A site whose meter (1 kWh register of 6 digits, coefficient 40) reads ``start`` at
    12:30 and 6 steps more at 13:00: 240 kWh in half an hour, 480 kW."""
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    block = {"meter": "M-1", "unit": "1kWh", "coefficient": 40, "digits": 6}
    block["readings"] = [
        {"t": "2026-11-26T12:30:00+09:00", "fwd": start},
        {"t": "2026-11-26T13:00:00+09:00", "fwd": (start + 6) % 10**6},
    ]
    messages = tmp_path / "m.jsonl"
    messages.write_text(json.dumps({**LINE, "meters": [block]}) + "\n")
    assert kenshin(site, "import", str(messages)).exit_code == 0
    return site


@pytest.mark.parametrize("start", [999_997, 500_000], ids=["wraps", "does-not-wrap"])
def test_a_ct_meters_demand_is_judged_the_same_whether_its_register_wraps(
    tmp_path: Path, start: int
) -> None:
    site = ct_meter_site(tmp_path, start)
    assert slot_cells(site) == ["240.000"]
    explained = kenshin(site, "explain", "M-1", "--slot", "2026-11-26 12:30")
    assert "  fwd: 240.000 kWh, flag A" in explained.output.splitlines()


def test_setting_an_unknown_meter_or_a_bad_demand_says_what_was_expected(tmp_path: Path) -> None:
    site = site_with_a_meter(tmp_path)
    unknown = kenshin(site, "meters", "set", "M-9", "--max-demand-kw", "5")
    assert unknown.exit_code == 2
    assert "no meter 'M-9'" in unknown.output
    zero = kenshin(site, "meters", "set", "M-1", "--max-demand-kw", "0")
    assert zero.exit_code == 2
    assert "0 is not in the range 1<=x<=10000000" in zero.output


def test_revisions_list_every_published_file_of_a_day(tmp_path: Path) -> None:
    site = site_with_a_meter(tmp_path)
    none = kenshin(site, "revisions", "--customer", "C-001", "--date", "2026-11-26")
    assert none.output == "no file of 2026-11-26 has been published for C-001\n"
    kenshin(site, "meters", "set", "M-1", "--max-demand-kw", "150")
    slot_cells(site)
    kenshin(site, "meters", "set", "M-1", "--max-demand-kw", "200")
    slot_cells(site)
    listed = kenshin(site, "revisions", "--customer", "C-001", "--date", "2026-11-26")
    rows = [line.split() for line in listed.output.splitlines()]
    assert rows[0][:5] == ["revision", "status", "file", "rows", "actual"]
    assert [r[:5] for r in rows[1:]] == [
        ["1", "final", "C-001_20261126.csv", "1", "0/48"],
        ["2", "final", "C-001_20261126.csv", "1", "1/48"],
    ]
    bad = kenshin(site, "revisions", "--customer", "C-404", "--date", "2026-11-26")
    assert (bad.exit_code, "no customer 'C-404'" in bad.output) == (2, True)


def test_every_list_command_prints_one_json_array_with_times_in_iso_8601(
    tmp_path: Path,
) -> None:
    site = site_with_a_meter(tmp_path)
    installed = "2026-11-20T10:30+09:00"
    assert kenshin(site, "meters", "service", "M-1", "--installed", installed).exit_code == 0
    kenshin(site, "import", "-", input_text="not json\n")
    slot_cells(site)
    store = SqliteStore(site / "kenshin.db")
    at = int(datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC).timestamp())
    store.deliveries.add_receipt(Receipt("C-001", "C-001_20261126.csv", 1, 99, "ftps", "::1", at))
    store.close()
    commands = {
        "customers": ["customers", "list"],
        "devices": ["devices", "list"],
        "meters": ["meters", "list"],
        "revisions": ["revisions", "--customer", "C-001", "--date", "2026-11-26"],
        "deliveries": ["deliveries"],
        "uncollected": ["deliveries", "--uncollected"],
        "dead-letters": ["dead-letters"],
        "conflicts": ["conflicts"],
    }
    found = {}
    for name, args in commands.items():
        done = kenshin(site, *args, "--json")
        assert done.exit_code == 0, done.output
        found[name] = json.loads(done.output)
        assert isinstance(found[name], list)
    assert found["customers"][0]["id"] == "C-001"
    assert found["customers"][0]["timezone"] == "Asia/Tokyo"
    assert found["devices"][0]["last_seen"] is None  # imported, never heard live
    [meter] = found["meters"]
    assert meter["max_demand_kw"] == 4000  # coefficient 40 x the default 100 kW
    assert meter["installed"] == "2026-11-20T10:30:00+09:00"
    assert meter["removed"] is None
    assert [r["revision"] for r in found["revisions"]] == [1]
    assert len(found["revisions"][0]["sha256"]) == 64
    assert found["deliveries"] == [
        {
            "time": "2026-11-27T10:02:03+09:00",
            "customer": "C-001",
            "file": "C-001_20261126.csv",
            "revision": 1,
            "bytes": 99,
            "protocol": "ftps",
            "address": "::1",
        }
    ]
    assert found["uncollected"] == []
    assert "not valid JSON" in found["dead-letters"][0]["reason"]
    assert found["dead-letters"][0]["device"] is None
    assert found["conflicts"] == []
    utc = json.loads(kenshin(site, "deliveries", "--json", "--utc").output)
    assert utc[0]["time"] == "2026-11-27T01:02:03+00:00"


def test_list_tables_show_times_in_the_customers_zone_or_in_utc(tmp_path: Path) -> None:
    site = site_with_a_meter(tmp_path)
    fitted = "2026-11-20T01:30+00:00"
    assert kenshin(site, "meters", "service", "M-1", "--installed", fitted).exit_code == 0
    local = kenshin(site, "meters", "list").output.splitlines()[1].split()
    assert local[7] == "2026-11-20T10:30+09:00"
    assert kenshin(site, "meters", "list", "--utc").output.splitlines()[1].split()[7] == fitted
    slot_cells(site)
    revision = kenshin(site, "revisions", "--customer", "C-001", "--date", "2026-11-26")
    created = datetime.fromisoformat(revision.output.splitlines()[1].split()[5])
    assert created.utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize("command", [["meters", "list"], ["devices", "list"], ["deliveries"]])
def test_a_list_of_an_unknown_customer_is_refused_not_empty(
    tmp_path: Path, command: list[str]
) -> None:
    site = make_site(tmp_path, "site")
    refused = kenshin(site, *command, "--customer", "C-NOPE")
    assert refused.exit_code == 2
    assert "no customer 'C-NOPE'; 'kenshin customers list' shows them" in refused.output
    assert kenshin(site, *command, "--customer", "C-001").exit_code == 0
