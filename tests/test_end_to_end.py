"""End to end through the command line: simulate, register, import, export, compare with truth."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from conftest import kenshin, make_site
from kenshin.domain.energy import UNIT_MWH
from kenshin.entrypoints.cli import cli
from kenshin.sim.faults import FAULTS

TOKYO = ZoneInfo("Asia/Tokyo")
# Recent days, as a fleet's data always is: the export keeps to the 45-day retention.
START = datetime.now(TOKYO).date() - timedelta(days=6)
DAYS = 3
TOKYO_DAY_START = {  # local midnight in UTC epoch seconds
    day: int(datetime(day.year, day.month, day.day, tzinfo=TOKYO).timestamp())
    for day in (START + timedelta(days=n) for n in range(DAYS))
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet") / "fleet.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--devices",
            "40",
            "--days",
            str(DAYS),
            "--start",
            START.isoformat(),
            "--faults",
            # Every fault but a conflicting copy, whose arrival order decides which value
            # is kept (tests/test_export_vee.py covers it).
            ",".join(f for f in FAULTS if f != "conflict"),
            "--seed",
            "7",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def import_and_export(site: Path, messages: Path) -> Result:
    devices = messages.with_name(f"{messages.stem}.devices.csv")
    assert (
        kenshin(site, "devices", "add", "--customer", "C-001", "--file", str(devices)).exit_code
        == 0
    )
    imported = kenshin(site, "import", str(messages))
    assert imported.exit_code == 0, imported.output
    exported = kenshin(
        site,
        "export",
        "--customer",
        "C-001",
        "--from",
        START.isoformat(),
        "--to",
        (START + timedelta(days=DAYS - 1)).isoformat(),
    )
    assert exported.exit_code == 0, exported.output
    return imported


def read_truth(messages: Path) -> dict[tuple[str, int, str], int]:
    truth = {}
    with messages.with_name(f"{messages.stem}.truth.csv").open(newline="") as stream:
        for row in csv.DictReader(stream):
            start = int(datetime.fromisoformat(row["slot_start"]).timestamp())
            truth[(row["meter"], start, "fwd")] = int(row["fwd_mwh"])
            truth[(row["meter"], start, "rev")] = int(row["rev_mwh"])
    return truth


def boundary_registers(messages: Path) -> dict[str, tuple[int, int, dict[int, tuple[int, int]]]]:
    """Per meter: (resolution mWh, modulus, t -> (fwd, rev)) straight from the messages."""
    meters: dict[str, tuple[int, int, dict[int, tuple[int, int]]]] = {}
    for line in messages.read_text().splitlines():
        for block in json.loads(line)["meters"]:
            resolution = UNIT_MWH[block["unit"]] * block["coefficient"]
            entry = meters.setdefault(block["meter"], (resolution, 10 ** block["digits"], {}))
            for r in block["readings"]:
                entry[2][int(datetime.fromisoformat(r["t"]).timestamp())] = (r["fwd"], r["rev"])
    return meters


def wide_rows(site: Path) -> list[list[str]]:
    rows = []
    for day in TOKYO_DAY_START:
        path = site / "outbox" / "C-001" / f"C-001_{day:%Y%m%d}.csv"
        content = path.read_bytes()
        assert content.count(b"\n") == content.count(b"\r\n")
        rows.extend(list(csv.reader(io.StringIO(content.decode("utf-8"))))[1:])
    return rows


def mwh(cell: str) -> int:
    return int(Decimal(cell) * 1_000_000)


def test_every_slot_equals_the_truth_and_totals_equal_register_differences(
    tmp_path: Path, fleet: Path
) -> None:
    site = make_site(tmp_path, "site")
    imported = import_and_export(site, fleet)
    # Only the readings of the ``future`` fault: quarantined, each in a dead letter.
    assert "0 conflicts kept aside, 3 dead letters" in imported.output
    assert "3 readings dated in the future quarantined" in imported.output
    truth, registers = read_truth(fleet), boundary_registers(fleet)
    compared = estimated = 0
    for row in wide_rows(site):
        meter, day, direction = row[0], date.fromisoformat(row[1]), row[2]
        values, total, flags = row[3:-2], row[-2], row[-1]
        assert len(values) == len(flags) == 48
        start = TOKYO_DAY_START[day]
        for i, (cell, flag) in enumerate(zip(values, flags, strict=True)):
            key = (meter, start + 1800 * i, direction)
            if flag in "AQ":  # measured: a spike is real consumption, questioned
                assert mwh(cell) == truth[key], (key, cell)
                compared += 1
            elif flag == "E":  # only next to a quarantined reading
                assert key in truth
                estimated += 1
            else:
                assert (flag, cell) == ("N", "")
                assert key not in truth  # only slots outside the meter's life lack a value
        resolution, modulus, series = registers[meter]
        if set(flags) <= {"A", "Q"}:
            which = 0 if direction == "fwd" else 1
            difference = (series[start + 86_400][which] - series[start][which]) % modulus
            assert mwh(total) == difference * resolution
    assert compared + estimated == len(truth) == 40 * DAYS * 48 * 2
    assert 0 < estimated <= 3 * 2 * 2  # two slots, both directions, each quarantined reading
    assert len(registers) > 40  # a meter exchange happened, and its two meters both add up


def test_duplicates_and_delivery_order_change_no_byte(tmp_path: Path, fleet: Path) -> None:
    lines = fleet.read_text().splitlines()
    shuffled = lines + random.Random(3).sample(lines, len(lines) // 5)
    random.Random(4).shuffle(shuffled)
    other = tmp_path / "other" / fleet.name
    other.parent.mkdir()
    other.write_text("\n".join(shuffled) + "\n")
    for suffix in (".truth.csv", ".devices.csv"):
        source = fleet.with_name(f"{fleet.stem}{suffix}")
        other.with_name(f"{other.stem}{suffix}").write_bytes(source.read_bytes())
    first, second = make_site(tmp_path, "a"), make_site(tmp_path, "b")
    import_and_export(first, fleet)
    import_and_export(second, other)
    for day in TOKYO_DAY_START:
        name = f"C-001/C-001_{day:%Y%m%d}.csv"
        assert (first / "outbox" / name).read_bytes() == (second / "outbox" / name).read_bytes()


def test_bad_lines_become_dead_letters_and_good_lines_are_stored(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0

    def line(device: str = "U-1", t: str = "2026-11-26T12:30:00+09:00", fwd: object = 5) -> str:
        return json.dumps(
            {
                "v": 1,
                "device": device,
                "seq": 1,
                "sent": "2026-11-26T12:30:04+09:00",
                "meters": [
                    {
                        "meter": "M-1",
                        "unit": "0.1kWh",
                        "coefficient": 1,
                        "digits": 6,
                        "readings": [{"t": t, "fwd": fwd}],
                    }
                ],
            }
        )

    bad = {
        "garbage": "this is not json",
        "truncated": line()[:40],
        "wrong type": line(fwd="5"),
        "NaN": line().replace('"fwd": 5', '"fwd": NaN'),
        "negative": line(fwd=-1),
        "huge": line(fwd=10**20),
        "naive": line(t="2026-11-26T12:30:00"),
        "unknown device": line(device="U-404"),
    }
    good = [line(t=f"2026-11-26T{h:02d}:00:00+09:00", fwd=h) for h in range(10, 15)]
    text = "\n".join([*bad.values(), *good]) + "\n"
    result = kenshin(site, "import", "-", input_text=text)
    assert result.exit_code == 0
    assert (
        "13 messages, 5 readings: 5 stored, 0 duplicates, 0 conflicts kept aside, "
        "8 dead letters" in result.output
    )
    listed = kenshin(site, "dead-letters").output
    for reason in (
        "not valid JSON",
        "fwd: expected an integer",
        "NaN",
        "fwd: -1 is out of range",
        "has no UTC offset",
        "unknown device 'U-404'",
    ):
        assert reason in listed
    assert listed.splitlines()[-1] == "8 dead letters in all"
    newest = kenshin(site, "dead-letters", "--limit", "3").output.splitlines()
    assert newest == [
        *listed.splitlines()[5:8],
        "8 dead letters in all, the 5 older not listed (--limit)",
    ]


def test_errors_say_what_was_expected(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    result = kenshin(site, "export", "--customer", "C-001", "--date", "26/11/2026")
    assert result.exit_code == 2
    assert "expected a date as YYYY-MM-DD" in result.output
    result = kenshin(site, "customers", "add", "C-002", "--name", "x", "--timezone", "Tokio")
    assert "unknown time zone 'Tokio'" in result.output
    result = kenshin(site, "customers", "add", "C-001", "--name", "again")
    assert (result.exit_code, "exists already" in result.output) == (1, True)
    missing = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "none.toml"), "customers", "list"]
    )
    assert missing.exit_code == 1
    assert "kenshin init" in missing.output


def test_days_older_than_the_retention_are_skipped_or_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    today = datetime.now(TOKYO).date()
    first, last = today - timedelta(days=47), today - timedelta(days=44)
    result = kenshin(site, "export", "--customer", "C-001", "--from", str(first), "--to", str(last))
    assert result.exit_code == 0, result.output
    assert f"skipping the days before {today - timedelta(days=45)}" in result.output
    written = sorted(p.name for p in (site / "outbox" / "C-001").glob("*.csv"))
    assert written == [f"C-001_{today - timedelta(days=n):%Y%m%d}.csv" for n in (45, 44)]
    refused = kenshin(site, "export", "--customer", "C-001", "--date", str(first))
    assert refused.exit_code == 1
    assert "older than the 45-day retention" in refused.output


def test_a_day_after_today_is_refused_and_no_file_is_published(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    today = datetime.now(TOKYO).date()
    tomorrow = today + timedelta(days=1)
    for args in (["--date", str(tomorrow)], ["--from", str(today), "--to", str(tomorrow)]):
        refused = kenshin(site, "export", "--customer", "C-001", *args)
        assert refused.exit_code == 2
        option = args[-2]
        assert refused.output.splitlines()[-1] == (
            f"Error: Invalid value for {option}: {tomorrow} is after today ({today} in"
            " Asia/Tokyo, the time zone of customer 'C-001'): give a day up to today"
        )
    assert list((site / "outbox").rglob("*.csv")) == []
    done = kenshin(site, "export", "--customer", "C-001", "--date", str(today))
    assert done.exit_code == 0, done.output


@pytest.mark.integration
def test_console_script_runs_outside_the_test_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kenshin", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("kenshin, version ")


def test_a_file_pattern_must_name_each_day_differently(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    for pattern in ("{customer}.csv", "{customer}_{date:%Y%m}.csv", "x_{date:%d}.csv"):
        result = kenshin(site, "customers", "add", "P", "--name", "p", "--file-pattern", pattern)
        assert result.exit_code == 2
        assert "same name to different days" in result.output


def test_a_file_pattern_takes_only_the_documented_fields_plain(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    advice = (
        "use only {customer} (the customer id) and {date:...} (the local day, with strftime"
        " codes) or {date.year}, {date.month} and {date.day}, e.g."
        " '{customer}_{date:%Y%m%d}.csv'"
    )
    for pattern, wrong in [
        ("{customer}_{foo}.csv", "unknown field {foo}"),
        ("{customer.__class__}_{date:%Y%m%d}.csv", "unknown field {customer.__class__}"),
        ("{customer!r}_{date:%Y%m%d}.csv", "conversion !r of {customer}"),
        ("{customer[0]}_{date:%Y%m%d}.csv", "unknown field {customer[0]}"),
        ("{customer}_{date:{customer}}.csv", "format '{customer}' of {date}"),
    ]:
        added = kenshin(site, "customers", "add", "C-P2", "--name", "p", "--file-pattern", pattern)
        assert added.exit_code == 2
        assert " ".join(added.output.split()).endswith(
            f"Error: Invalid value for --file-pattern: file pattern {pattern!r} of customer"
            f" 'C-P2' is invalid ({wrong}): {advice}"
        )
    assert [c["id"] for c in json.loads(kenshin(site, "customers", "list", "--json").output)] == [
        "C-001"
    ]
    for number, pattern in enumerate(  # what a pattern could always say
        [
            "kenshin-{customer}-{date:%Y-%m-%d}.csv",
            "{customer}_{date.year}-{date.month:02d}-{date.day:02d}.csv",
            "{customer!s}_{customer:.8}_{date:%Y%m%d}.csv",
        ]
    ):
        customer = f"C-P{number + 3}"
        added = kenshin(
            site, "customers", "add", customer, "--name", "p", "--file-pattern", pattern
        )
        assert added.exit_code == 0, added.output

    clash = "{customer}_{date.year}{date.month}{date.day}.csv"  # 2026-1-11 and 2026-11-1
    added = kenshin(site, "customers", "add", "C-P9", "--name", "p", "--file-pattern", clash)
    assert added.exit_code == 2
    assert "gives the same name to different days" in added.output


def test_a_line_longer_than_any_message_is_a_dead_letter_and_the_next_line_is_read(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    source = tmp_path / "big.jsonl"
    source.write_bytes(b"x" * 3_000_000 + b"\n" + b"{}\n")
    result = kenshin(site, "import", str(source))
    assert "2 messages, 0 readings" in result.output
    letters = kenshin(site, "dead-letters").output
    assert "the limit is 131072" in letters
    assert "big.jsonl:2" in letters


def test_a_folder_that_cannot_be_made_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["init", str(blocker / "sub")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "Traceback" not in result.output
