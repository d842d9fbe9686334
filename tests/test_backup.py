"""``kenshin backup`` while ``kenshin serve`` runs and ingests, and the site restored."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import MQTTMessageInfo

from conftest import kenshin, make_site, wait_for
from endpoint.test_serve import served, unit

__all__ = ["served"]  # the fixture, used by name

pytestmark = pytest.mark.integration

START = 1_793_458_800  # 2026-11-01 00:00 in Tokyo


def message(n: int) -> bytes:
    """Reading number ``n`` of meter M-1: its own half hour, its own value."""
    t = START + 1800 * n
    return json.dumps(
        {
            "v": 1,
            "device": "U-1",
            "seq": n,
            "sent": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t + 4)),
            "meters": [
                {
                    "meter": "M-1",
                    "unit": "0.1kWh",
                    "coefficient": 1,
                    "digits": 6,
                    "readings": [
                        {"t": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), "fwd": 1000 + n}
                    ],
                }
            ],
        }
    ).encode()


def stored(site: Path) -> set[tuple[str, int, int]]:
    with closing(sqlite3.connect(site / "kenshin.db")) as db:
        rows = db.execute(
            "SELECT m.id, r.t, r.fwd FROM readings r JOIN meters m ON m.key = r.meter"
        ).fetchall()
    return set(rows)


def listed(site: Path, *args: str) -> Any:
    done = kenshin(site, *args, "--json")
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


class Publisher:
    """Unit U-1 publishing one reading after another, each QoS 1, until stopped."""

    def __init__(self, site: Path, port: int) -> None:
        self.client = unit(site, port)
        self.sent: list[tuple[int, MQTTMessageInfo]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set() and n < 5000:
            info = self.client.publish("dt/kenshin/U-1/readings", message(n), qos=1)
            self.sent.append((n, info))
            n += 1
            time.sleep(0.002)  # a steady stream while the backup runs, not a wait

    def acknowledged(self) -> set[int]:
        """The numbers of the readings acknowledged (so committed) by now."""
        return {n for n, info in list(self.sent) if info.is_published()}

    def wait(self, condition: Callable[[], bool]) -> None:
        wait_for("the server keeping up", condition)

    def stop(self) -> None:
        """Stop, and wait until every reading sent is acknowledged."""
        self._stop.set()
        self._thread.join(10)
        for _, info in self.sent:
            info.wait_for_publish(20)
        self.client.disconnect()


def test_a_backup_taken_while_serve_ingests_restores_the_same_site(
    served: tuple[Path, subprocess.Popen[str], int], tmp_path: Path
) -> None:
    site, _process, port = served
    unit_1 = Publisher(site, port)
    try:
        unit_1.wait(lambda: len(unit_1.acknowledged()) >= 50)
        before = unit_1.acknowledged()
        dest = tmp_path / "backup"
        done = kenshin(site, "backup", str(dest))
        assert done.exit_code == 0, done.output
        during = len(unit_1.sent)
        unit_1.wait(lambda: len(unit_1.sent) >= during + 50)  # still ingesting after it
    finally:
        unit_1.stop()
    assert done.output.splitlines()[-1] == (
        f"backup complete in {dest}; to restore: copy it into an empty data folder"
    )
    assert dest.stat().st_mode & 0o777 == 0o700
    restored = tmp_path / "restored"
    shutil.copytree(dest, restored)
    assert listed(restored, "customers", "list") == listed(site, "customers", "list")
    shown = ("id", "customer", "certificate")
    assert [{k: d[k] for k in shown} for d in listed(restored, "devices", "list")] == [
        {k: d[k] for k in shown} for d in listed(site, "devices", "list")
    ]
    final, copied = stored(site), stored(restored)
    assert {(m, START + 1800 * n, 1000 + n) for n in before for m in ["M-1"]} <= copied
    assert copied <= final
    assert len(final) == len(unit_1.sent)
    assert (restored / "pki" / "ca.pem").read_bytes() == (site / "pki" / "ca.pem").read_bytes()
    assert (restored / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600
    exported = kenshin(restored, "export", "--customer", "C-001", "--date", "2026-11-01")
    assert exported.exit_code == 0, exported.output
    day_file = restored / "outbox" / "C-001" / "C-001_20261101.csv"
    assert day_file.read_text().splitlines()[1].startswith("M-1,2026-11-01,")
    refused = kenshin(site, "backup", str(dest))
    assert refused.exit_code == 2
    assert "is not empty" in refused.output


def test_a_site_with_its_database_and_outbox_elsewhere_restores_into_its_own_folder(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    elsewhere = tmp_path / "elsewhere"
    config = (site / "kenshin.toml").read_text()
    config = config.replace('path = "kenshin.db"', f'path = "{elsewhere / "live.db"}"')
    config = config.replace('outbox = "outbox"', f'outbox = "{elsewhere / "files"}"')
    elsewhere.mkdir()
    (site / "kenshin.db").rename(elsewhere / "live.db")
    (site / "kenshin.toml").write_text(config)
    exported = kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-01")
    assert exported.exit_code == 0, exported.output
    dest = tmp_path / "backup"
    done = kenshin(site, "backup", str(dest))
    assert done.exit_code == 0, done.output
    assert f"database: {dest / 'kenshin.db'} (" in done.output
    assert "(store.path, export.outbox set to the copies)" in done.output
    day_file = Path("C-001") / "C-001_20261101.csv"
    published = (elsewhere / "files" / day_file).read_bytes()
    assert (dest / "outbox" / day_file).read_bytes() == published
    restored = tmp_path / "restored"
    shutil.copytree(dest, restored)
    text = (restored / "kenshin.toml").read_text()
    assert 'path = "kenshin.db"' in text
    assert 'outbox = "outbox"' in text
    assert str(elsewhere) not in text
    added = kenshin(restored, "customers", "add", "C-002", "--name", "Restored")
    assert added.exit_code == 0, added.output
    assert [c["id"] for c in listed(restored, "customers", "list")] == ["C-001", "C-002"]
    assert [c["id"] for c in listed(site, "customers", "list")] == ["C-001"]


def test_a_file_that_cannot_be_copied_is_named_and_no_partial_backup_is_left(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    (site / "outbox" / "C-001").mkdir(parents=True, exist_ok=True)
    os.mkfifo(site / "outbox" / "C-001" / "pipe")
    dest = tmp_path / "backup"
    done = kenshin(site, "backup", str(dest))
    assert done.exit_code == 1
    pipe = site / "outbox" / "C-001" / "pipe"
    assert done.output.splitlines()[-1] == f"Error: cannot copy {pipe}: `{pipe}` is a named pipe"
    assert not dest.exists()
