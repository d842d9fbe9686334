"""The command line on customers' files: what `kenshin export` prints, and
`kenshin customers set` changing a customer's file settings."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import kenshin, make_site

TOKYO = ZoneInfo("Asia/Tokyo")


def readings_file(path: Path, skip: tuple[int, ...] = ()) -> tuple[Path, str]:
    """One message of meter M-1 on unit U-1: yesterday's boundaries in Tokyo, 1.2 kWh a
    slot, but for the skipped boundaries; the file and yesterday's date."""
    day = datetime.now(TOKYO).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=TOKYO)
    readings = [
        {"t": (start + timedelta(minutes=30 * i)).isoformat(), "fwd": 5_000 + 12 * i, "rev": 0}
        for i in range(49)
        if i not in skip
    ]
    message = {
        "v": 1,
        "device": "U-1",
        "seq": 1,
        "sent": start.isoformat(),
        "meters": [
            {"meter": "M-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6, "readings": readings}
        ],
    }
    path.write_text(json.dumps(message) + "\n")
    return path, day.isoformat()


def test_export_counts_estimated_slots_among_those_with_a_value(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "--customer", "C-001", "U-1").exit_code == 0
    messages, day = readings_file(tmp_path / "m.jsonl", skip=(20,))  # slots 20-21 estimated
    assert kenshin(site, "import", str(messages)).exit_code == 0
    result = kenshin(site, "export", "--customer", "C-001", "--date", day)
    assert result.exit_code == 0, result.output
    # fwd and rev rows: 96 slots, every one with a value, 4 of them estimated
    assert "96/96 slots with a value (4 estimated)" in result.output


def test_customers_set_changes_the_settings_of_new_files(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    result = kenshin(
        site,
        "customers",
        "set",
        "C-001",
        "--layout",
        "wide",
        "--labels",
        "ja",
        "--encoding",
        "cp932",
        "--slot-labels",
        "end",
        "--flags",
        "per-slot",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "customer C-001: encoding utf-8 -> cp932",
        "customer C-001: labels en -> ja",
        "customer C-001: slot_labels start -> end",
        "customer C-001: flags block -> per-slot",
        "applies to new files only: a day that already has a file keeps the settings it was"
        " written with",
    ]
    assert kenshin(site, "devices", "add", "--customer", "C-001", "U-1").exit_code == 0
    messages, day = readings_file(tmp_path / "m.jsonl")
    assert kenshin(site, "import", str(messages)).exit_code == 0
    assert kenshin(site, "export", "--customer", "C-001", "--date", day).exit_code == 0
    text = (site / "outbox" / "C-001" / f"C-001_{day.replace('-', '')}.csv").read_bytes()
    header, fwd, rev = text.decode("cp932").split("\r\n")[:3]
    assert header.startswith("計器ID,日付,方向,00:30,00:30 品質,01:00,01:00 品質,")
    assert header.endswith(",24:00,24:00 品質,合計kWh")
    assert fwd == f"M-1,{day},買電," + "1.200,A," * 48 + "57.600"
    assert rev.startswith(f"M-1,{day},売電,0.000,A,")
    listed = kenshin(site, "customers", "list").output.splitlines()
    assert listed[0].split()[-2:] == ["slot_labels", "flags"]
    assert listed[1].split()[-4:] == ["cp932", "ja", "end", "per-slot"]
    again = kenshin(site, "customers", "set", "C-001", "--labels", "ja")
    assert again.output == "customer C-001: nothing changed\n"


def test_customers_set_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    nothing = kenshin(site, "customers", "set", "C-001")
    assert nothing.exit_code == 2
    assert "give a setting to change: --timezone" in nothing.output
    unknown = kenshin(site, "customers", "set", "C-404", "--labels", "ja")
    assert (unknown.exit_code, "no customer 'C-404'" in unknown.output) == (2, True)
    zone = kenshin(site, "customers", "set", "C-001", "--timezone", "Tokio")
    assert (zone.exit_code, "unknown time zone 'Tokio'" in zone.output) == (2, True)
    listed = kenshin(site, "customers", "list").output.splitlines()
    assert listed[1].split() == [
        "C-001",
        "Example",
        "Asia/Tokyo",
        "wide",
        "utf-8",
        "en",
        "start",
        "block",
    ]
    moved = kenshin(
        site, "customers", "set", "C-001", "--timezone", "Europe/Berlin", "--layout", "nem12"
    )
    assert moved.output.splitlines()[:2] == [
        "customer C-001: layout wide -> nem12",
        "customer C-001: timezone Asia/Tokyo -> Europe/Berlin",
    ]


def test_a_new_time_zone_says_which_hours_fall_between_the_days(tmp_path: Path) -> None:
    """The day with a file keeps its zone; the next is the first in the new one: from
    Tokyo to Berlin, the 8 hours between are in no day file; from Berlin to Tokyo, in
    two."""
    site = make_site(tmp_path, "site")
    assert kenshin(site, "export", "--customer", "C-001").exit_code == 0  # today's file
    moved = kenshin(site, "customers", "set", "C-001", "--timezone", "Europe/Berlin")
    assert moved.exit_code == 0, moved.output
    assert "keeps its file in Asia/Tokyo, which ends " in moved.output
    assert "is the first in Europe/Berlin, beginning" in moved.output
    assert re.search(r"the [78] hours between are in no day file", moved.output)  # DST: 7
    back = kenshin(site, "customers", "set", "C-001", "--timezone", "Asia/Seoul")  # +09:00
    assert back.exit_code == 0
    assert "between" not in back.output  # today's file is Tokyo's, as the next day will be
    berlin = make_site(tmp_path, "berlin")
    assert (
        kenshin(berlin, "customers", "set", "C-001", "--timezone", "Europe/Berlin").exit_code == 0
    )
    assert kenshin(berlin, "export", "--customer", "C-001").exit_code == 0
    east = kenshin(berlin, "customers", "set", "C-001", "--timezone", "Asia/Tokyo")
    assert re.search(r"the [78] hours between are in two day files", east.output)


def test_a_nem12_day_keeps_its_standard_time_cut_at_the_seam(tmp_path: Path) -> None:
    """NEM12 days are 48 half hours of standard time: Sydney's (+10:00) end where
    Brisbane's (+10:00, no DST) begin, whatever Sydney's clocks say."""
    site = make_site(tmp_path, "site")
    to = ["--timezone", "Australia/Sydney", "--layout", "nem12"]
    assert kenshin(site, "customers", "set", "C-001", *to).exit_code == 0
    assert kenshin(site, "export", "--customer", "C-001").exit_code == 0
    moved = kenshin(site, "customers", "set", "C-001", "--timezone", "Australia/Brisbane")
    assert moved.exit_code == 0, moved.output
    assert "between" not in moved.output
