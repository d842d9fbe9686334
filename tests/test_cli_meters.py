"""The meters and revisions commands: what an operator sees and can change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import kenshin, make_site

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
    # In service from its first reading (03:30 UTC), as no one said when it was fitted.
    spec = ["M-1", "U-1", "0.1kWh", "40", "4", "4000", "(default)", "2026-11-26", "03:30:00"]
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
    assert kenshin(site, "meters", "list").output.splitlines()[1].split()[5] == "200"


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
