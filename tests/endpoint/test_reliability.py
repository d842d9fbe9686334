"""The server killed while units publish: nothing acknowledged is lost, nothing counted twice.

``kenshin serve`` and ``kenshin simulate --host`` run as processes; the server is
killed with SIGKILL in the middle of the publishing and started again on the same
port. The units send again what was not acknowledged; the exported files must then
equal the simulator's truth to the mWh.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from conftest import kenshin, serve_process, wait_for
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.model import Customer
from kenshin.sim.verify import load_truth, verify_files
from test_simulate_network import DAY, fleet_site, free_port

pytestmark = pytest.mark.integration


def start_server(site: Path, port: int) -> subprocess.Popen[str]:
    env = {"KENSHIN_MQTT__PORT": str(port), "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, env, stderr=subprocess.DEVNULL)
    assert ports == {"MQTT over TLS": port}
    return process


@pytest.mark.slow
def test_a_server_killed_mid_publish_loses_nothing_acknowledged(tmp_path: Path) -> None:
    kill_mid_publish(tmp_path, units=20, kill_at=300, wake_minutes=60)


@pytest.mark.slow
def test_a_server_killed_while_a_thousand_units_publish_loses_nothing(tmp_path: Path) -> None:
    kill_mid_publish(tmp_path, units=1000, kill_at=20_000, wake_minutes=240)


def kill_mid_publish(tmp_path: Path, *, units: int, kill_at: int, wake_minutes: int) -> None:
    """Kill the server with SIGKILL once it has stored ``kill_at`` readings of a day
    ``units`` units publish, start it again; then check that the files equal the truth."""
    site = fleet_site(tmp_path, units)
    port = free_port()
    server = start_server(site, port)
    command = [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml")]
    command += ["simulate", "--devices", str(units), "--start", DAY.isoformat()]
    command += ["--faults", "all", "--seed", "3", "--out", str(site / "fleet.jsonl")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--certs", str(site / "certs")]
    command += ["--speed", "8640", "--wake-minutes", str(wake_minutes)]  # a day in about 10 s
    publishing = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for("readings stored", lambda: stored(site) >= kill_at, timeout_s=120)
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=10)
        before = stored(site)  # as the kill left it
        server = start_server(site, port)
        out, err = publishing.communicate(timeout=600)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert publishing.returncode == 0, err
    sent = [json.loads(line) for line in (site / "fleet.jsonl").read_text().splitlines()]
    readings = sum(len(m["readings"]) for message in sent for m in message["meters"])
    assert 0 < before < readings  # the kill came in the middle of the publishing
    assert "; 0 messages not acknowledged" in out + err
    exported = kenshin(site, "export", "--customer", "C-001", "--date", DAY.isoformat())
    assert exported.exit_code == 0, exported.output
    truth = load_truth(site / "fleet.truth.csv")
    check = verify_files(LocalOutbox(site / "outbox"), Customer("C-001", "Example"), truth)
    assert (check.mismatches, check.missing) == ([], 0)
    # Estimated: the slots around a reading dated in the future, quarantined.
    assert check.matched + check.estimated == len(truth)


def stored(site: Path) -> int:
    """How many readings the site's database holds."""
    with closing(sqlite3.connect(site / "kenshin.db")) as db:
        count: int = db.execute("SELECT count(*) FROM readings").fetchone()[0]
    return count
