"""``kenshin report``: an operator prints a day's report, writes its CSV and its mail."""

from __future__ import annotations

import csv
import json
from email import message_from_bytes, policy
from pathlib import Path

from conftest import kenshin, make_site


def message(device: str, meter: str, times: list[str], start: int) -> dict[str, object]:
    """Readings at local ``times`` (``HH:MM`` on 2026-11-26, ``24:00`` its end) 1.2 kWh apart."""
    stamps = [
        "2026-11-27T00:00:00+09:00" if t == "24:00" else f"2026-11-26T{t}:00+09:00" for t in times
    ]
    readings = [{"t": t, "fwd": start + 12 * i} for i, t in enumerate(stamps)]
    block = {"meter": meter, "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    return {
        "v": 1,
        "device": device,
        "seq": 1,
        "sent": "2026-11-26T13:00:04+09:00",
        "meters": [{**block, "readings": readings}],
    }


def site_with_gaps(tmp_path: Path) -> Path:
    """C-001's M-1 read all day but at 10:30 and 11:00 (so three slots from 10:00 have no
    value); M-2 (U-2) silent after its reading at 06:00."""
    site = make_site(tmp_path, "site")
    for unit in ("U-1", "U-2"):
        assert kenshin(site, "devices", "add", unit, "--customer", "C-001").exit_code == 0
    day = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]
    lines = [
        message("U-1", "M-1", [t for t in [*day, "24:00"] if t not in {"10:30", "11:00"}], 1_000),
        message("U-2", "M-2", day[:13], 5_000),
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in lines))
    assert kenshin(site, "import", str(path)).exit_code == 0
    return site


def test_report_prints_the_day_and_writes_its_csv_and_mail(tmp_path: Path) -> None:
    site = site_with_gaps(tmp_path)
    csv_path, eml_path = tmp_path / "detail.csv", tmp_path / "report.eml"
    shown = kenshin(
        site, "report", "--date", "2026-11-26", "--csv", str(csv_path), "--email", str(eml_path)
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "kenshin data quality of Thursday 2026-11-26"
    assert lines[3] == (
        "39 slots missing (3 of them estimated), 0 questionable, on 2 of 2 meters of 1 customer."
    )
    assert lines[4] == "1 silent unit, 0 files not collected, 0 security events."
    assert (
        "  - 1 silent unit (1 meter) of customer C-001: no reading since 06:00, 36 slots missing"
        in lines
    )
    assert "  - 1 meter of customer C-001: 3 slots missing, the first at 10:00" in lines
    assert csv_path.read_text().splitlines()[1:] == [
        "C-001,U-1,M-1,3,3,0,missing:3,2026-11-27T00:00+09:00,,,",
        "C-001,U-2,M-2,36,0,0,missing:36,2026-11-26T06:00+09:00,,,",
    ]
    mail = message_from_bytes(eml_path.read_bytes(), policy=policy.default)
    assert mail["Subject"].startswith("kenshin data quality 2026-11-26: 39 slots missing")
    assert [p.get_content_type() for p in mail.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/csv",
    ]


def test_report_of_one_customer_and_refusals(tmp_path: Path) -> None:
    site = site_with_gaps(tmp_path)
    assert kenshin(site, "customers", "add", "C-002", "--name", "Two").exit_code == 0
    one = kenshin(site, "report", "--date", "2026-11-26", "--customer", "C-002")
    assert one.exit_code == 0, one.output
    assert "Every slot of 0 meters was read and passed its checks." in one.output
    unknown = kenshin(site, "report", "--date", "2026-11-26", "--customer", "C-9")
    assert unknown.exit_code == 2
    assert "no customer 'C-9'" in unknown.output
    bad = kenshin(site, "report", "--date", "26/11/2026")
    assert bad.exit_code == 2
    assert "expected a date as YYYY-MM-DD" in bad.output
    send = kenshin(site, "report", "--date", "2026-11-26", "--send")
    assert send.exit_code == 1
    assert "sending the report by email is not configured" in send.output


def test_a_conflicting_reading_is_listed_with_its_device_as_the_report_says(
    tmp_path: Path,
) -> None:
    site = site_with_gaps(tmp_path)
    again = message("U-1", "M-1", ["09:00"], 2_000)  # stored: 1,000 + 12 x 18 = 1,216
    path = tmp_path / "again.jsonl"
    path.write_text(json.dumps(again) + "\n")
    assert kenshin(site, "import", str(path)).exit_code == 0
    listed = kenshin(site, "conflicts").output.splitlines()
    assert listed[0].split() == ["meter", "device", "time", "stored", "other", "received"]
    assert listed[1].split()[:5] == ["M-1", "U-1", "2026-11-26T09:00+09:00", "fwd=1216", "fwd=2000"]
    assert listed[-1] == "1 conflict listed"
    report = kenshin(site, "report", "--date", "2026-11-26").output.splitlines()
    cause = report.index("  - 1 meter of customer C-001: 2 slots with conflicting readings")
    assert report[cause + 1].endswith(
        "next: 'kenshin conflicts' lists them, the value kept and the other"
    )


def test_a_unit_never_heard_from_is_not_reported_silent(tmp_path: Path) -> None:
    site = site_with_gaps(tmp_path)
    assert kenshin(site, "devices", "add", "U-3", "--customer", "C-001").exit_code == 0
    shown = kenshin(site, "report", "--date", "2026-11-26")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[4] == "1 silent unit, 0 files not collected, 0 security events."
    assert "no reading all day" not in shown.output
    before = kenshin(site, "report", "--date", "2020-01-01")
    assert before.exit_code == 0, before.output
    assert before.output.splitlines()[4].startswith("0 silent units,")


def test_report_csv_cells_a_spreadsheet_would_run_open_as_text(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    meters = ['=HYPERLINK("x")', "@SUM(A1)", "+cmd", "-"]
    lines = [message("U-1", meter, ["00:00", "06:00"], 1_000) for meter in meters]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in lines))
    assert kenshin(site, "import", str(path)).exit_code == 0
    csv_path = tmp_path / "detail.csv"
    shown = kenshin(site, "report", "--date", "2026-11-26", "--csv", str(csv_path))
    assert shown.exit_code == 0, shown.output
    assert [row[2] for row in csv.reader(csv_path.read_text().splitlines()[1:])] == [
        "'+cmd",
        "'-",
        """'=HYPERLINK("x")""",
        "'@SUM(A1)",
    ]
