"""Operator commands on a live site: devices list with what units report of themselves."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import kenshin, make_site
from endpoint.test_publish import readings
from endpoint.test_serve import served, unit
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Customer
from kenshin.domain.vee.clock import UnitClock
from test_cli_meters import LINE

pytestmark = pytest.mark.integration

__all__ = ["served"]  # the fixture, used by name


def listed_json(site: Path, *args: str) -> list[dict[str, Any]]:
    done = kenshin(site, *args, "--json")
    assert done.exit_code == 0, done.output
    found: list[dict[str, Any]] = json.loads(done.output)
    return found


def test_devices_list_shows_when_each_unit_was_heard_its_firmware_and_signal(
    served: tuple[Path, subprocess.Popen[str], int],
) -> None:
    site, _process, port = served
    c = unit(site, port)
    c.publish(
        "dt/kenshin/U-1/status", b'{"firmware": "1.4.2", "rsrp": -97}', qos=1
    ).wait_for_publish(10)
    before = int(time.time())
    c.publish("dt/kenshin/U-1/readings", readings("U-1", 1, 1000), qos=1).wait_for_publish(10)
    c.disconnect()
    deadline = time.time() + 10
    while (rows := listed_json(site, "devices", "list"))[0]["firmware"] is None:
        assert time.time() < deadline, rows
        time.sleep(0.1)
    [row] = rows
    assert list(row) == ["id", "customer", "last_seen", "firmware", "signal_dbm", "certificate"]
    assert (row["id"], row["customer"], row["firmware"], row["signal_dbm"]) == (
        "U-1",
        "C-001",
        "1.4.2",
        -97,
    )
    seen = datetime.fromisoformat(row["last_seen"])
    assert row["last_seen"].endswith("+09:00")  # the customer's zone, Asia/Tokyo
    assert before - 1 <= seen.timestamp() <= time.time()
    [in_utc] = listed_json(site, "devices", "list", "--utc")
    assert in_utc["last_seen"].endswith("+00:00")
    assert datetime.fromisoformat(in_utc["last_seen"]) == seen
    table = kenshin(site, "devices", "list").output.splitlines()
    assert table[0].split() == [
        "id",
        "customer",
        "last_seen",
        "firmware",
        "signal_dbm",
        "certificate",
    ]
    assert table[1].split(None, 5) == [
        "U-1",
        "C-001",
        seen.isoformat(timespec="minutes"),
        "1.4.2",
        "-97",
        row["certificate"],
    ]


def test_a_list_cut_short_by_head_ends_quietly(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    store = SqliteStore(site / "kenshin.db")
    for n in range(600):  # 120 kB of lines: more than a pipe holds
        store.registry.add_customer(Customer(f"C-{n:05d}", "A customer's long name " * 9, "UTC"))
    store.close()
    command = [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml")]
    process = subprocess.Popen(
        [*command, "customers", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stdout.readline().split()[0] == b"id"
    process.stdout.close()  # as head does once it has its lines
    _, errors = process.communicate(timeout=30)
    assert errors == b""
    assert process.returncode in (0, 1)


def test_prune_says_which_files_it_removed_their_bytes_and_the_records_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path, "site")
    day = (datetime.now(ZoneInfo("Asia/Tokyo")) - timedelta(days=5)).date()
    assert kenshin(site, "export", "--customer", "C-001", "--date", f"{day}").exit_code == 0
    folder = site / "outbox" / "C-001"
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert len(sizes) == 2  # the file and its manifest
    kept = kenshin(site, "prune")
    assert kept.output == (
        "nothing to remove: no file is older than the 45-day retention\n"
        "records in the store removed: none (readings, revisions and receipts are kept)\n"
    )
    monkeypatch.setenv("KENSHIN_EXPORT__RETENTION_DAYS", "2")
    done = kenshin(site, "prune")
    assert done.exit_code == 0, done.output
    data_file = f"C-001_{day:%Y%m%d}.csv"
    manifest = data_file + ".manifest.json"
    assert done.output == (
        f"removed C-001/{data_file} ({sizes[data_file]:,} bytes)\n"
        f"removed C-001/{manifest} ({sizes[manifest]:,} bytes)\n"
        f"removed 2 file(s), {sum(sizes.values()):,} bytes in all\n"
        "records in the store removed: none (readings, revisions and receipts are kept)\n"
    )
    assert list(folder.iterdir()) == []
    revisions = kenshin(site, "revisions", "--customer", "C-001", "--date", f"{day}", "--json")
    assert len(json.loads(revisions.output)) == 1  # the record stays


def site_with_readings(tmp_path: Path) -> Path:
    """A site with customers C-001 and C-002 and unit U-1 of C-001 (its certificate in
    site/certs), whose meter M-1 has readings of 2026-11-26."""
    site = make_site(tmp_path, "site")
    assert kenshin(site, "customers", "add", "C-002", "--name", "Two").exit_code == 0
    out = str(site / "certs")
    assert (
        kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--out", out).exit_code == 0
    )
    messages = tmp_path / "m.jsonl"
    messages.write_text(json.dumps(LINE) + "\n")
    assert kenshin(site, "import", str(messages)).exit_code == 0
    return site


def test_a_device_moves_to_another_customer_with_force_when_it_has_readings(
    tmp_path: Path,
) -> None:
    site = site_with_readings(tmp_path)
    refused = kenshin(site, "devices", "move", "U-1", "--customer", "C-002")
    assert refused.exit_code == 2
    assert "U-1 reports 1 meter(s) with readings of C-001" in refused.output
    assert "Give --force" in refused.output
    assert listed_json(site, "devices", "list")[0]["customer"] == "C-001"
    unknown = kenshin(site, "devices", "move", "U-1", "--customer", "C-404")
    assert (unknown.exit_code, "no customer 'C-404'" in unknown.output) == (2, True)
    moved = kenshin(site, "devices", "move", "U-1", "--customer", "C-002", "--force")
    assert moved.exit_code == 0, moved.output
    assert moved.output == (
        "moved U-1 from C-001 to C-002 with 1 meter(s); files already published are not changed\n"
    )
    assert [d["customer"] for d in listed_json(site, "devices", "list")] == ["C-002"]
    assert [m["id"] for m in listed_json(site, "meters", "list", "--customer", "C-002")] == ["M-1"]
    again = kenshin(site, "devices", "move", "U-1", "--customer", "C-002")
    assert again.output == "U-1 belongs to C-002 already; nothing to do\n"


def day_file(site: Path) -> list[str]:
    return (site / "outbox" / "C-001" / "C-001_20261126.csv").read_text().splitlines()


def test_removing_a_device_revokes_it_ends_its_meters_and_keeps_its_readings(
    tmp_path: Path,
) -> None:
    site = site_with_readings(tmp_path)
    store = SqliteStore(site / "kenshin.db")
    store.unit_clocks.record([UnitClock("U-1", int(time.time()) - 120)], [])
    store.close()
    assert kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-26").exit_code == 0
    published = day_file(site)
    assert published[1].startswith("M-1,2026-11-26,fwd,")
    refused = kenshin(site, "devices", "remove", "U-1")
    assert refused.exit_code == 2
    assert "U-1 was heard 2 minute(s) ago: it is in use. Give --force" in refused.output
    assert listed_json(site, "devices", "list")[0]["certificate"].startswith("valid until")
    before = int(time.time())
    removed = kenshin(site, "devices", "remove", "U-1", "--force")
    assert removed.exit_code == 0, removed.output
    assert removed.output.startswith(
        "removed U-1 of C-001: revoked 1 certificate(s); 1 meter(s) out of service from "
    )
    assert removed.output.endswith("+09:00; its readings are kept\n")
    [device] = listed_json(site, "devices", "list")
    assert device["certificate"] == f"revoked {datetime.now(UTC).date()}"
    [meter] = listed_json(site, "meters", "list", "--utc")
    assert before - 60 <= datetime.fromisoformat(meter["removed"]).timestamp() <= time.time()
    # The readings stay: the day's file made again is the same.
    assert kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-26").exit_code == 0
    assert day_file(site) == published
    unknown = kenshin(site, "devices", "remove", "U-9")
    assert (unknown.exit_code, "no device 'U-9'" in unknown.output) == (2, True)
