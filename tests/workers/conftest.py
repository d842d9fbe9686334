"""A cluster on real parts: a PostgreSQL store (the run's database, a schema per test),
Mosquitto started from ``kenshin broker-config`` output on a free port, units of the
simulated fleet publishing to it, and ``kenshin worker`` processes."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import kenshin, make_site, postgres_url, steady_port, wait_for
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.model import Customer
from kenshin.sim.verify import load_truth, verify_files
from test_broker_config import MOSQUITTO, accepts
from test_simulate_network import DAY, ids, simulate

pytestmark = pytest.mark.integration


@dataclass
class Cluster:
    """The site (its config names the store and the broker), the broker and the workers."""

    site: Path
    url: str
    port: int
    tmp: Path
    broker: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    http_ports: dict[str, int] = field(default_factory=dict)
    env_extra: dict[str, str] = field(default_factory=dict)  # for every worker of a test

    @property
    def env(self) -> dict[str, str]:
        return {
            "KENSHIN_STORE__URL": self.url,
            "KENSHIN_BROKER__URL": f"mqtts://127.0.0.1:{self.port}",
            "KENSHIN_HTTP__PORT": "0",
            "KENSHIN_CLUSTER__HEARTBEAT_S": "1",
            "KENSHIN_CLUSTER__LEADER_CHECK_S": "1",
        }

    def start_broker(self) -> None:
        log = (self.tmp / "mosquitto.log").open("ab")
        self.broker = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.site / "broker" / "mosquitto.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        broker = self.broker
        wait_for("the broker listening", lambda: broker.poll() is None and accepts(self.port))

    def stop_broker(self, sig: int = signal.SIGTERM) -> None:
        assert self.broker is not None
        self.broker.send_signal(sig)
        self.broker.wait(10)
        self.broker = None

    def start_worker(self, name: str, **env: str) -> subprocess.Popen[str]:
        """``kenshin worker --name NAME`` as a process, once it is connected and listening."""
        log = (self.tmp / f"{name}.log").open("a")
        process = subprocess.Popen(
            [*self.command(), "worker", "--name", name],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **self.env, **env},
        )
        log.close()
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            assert line, f"worker {name} ended: {(self.tmp / f'{name}.log').read_text()}"
            found = re.fullmatch(r"listening: HTTP.* on \S+ port (\d+)\n", line)
            if found:
                self.http_ports[name] = int(found[1])
                break
        self.workers[name] = process
        return process

    def stop_worker(self, name: str, sig: int = signal.SIGTERM) -> str:
        """Stop the worker with ``sig``: what it printed."""
        process = self.workers.pop(name)
        process.send_signal(sig)
        out, _ = process.communicate(timeout=30)
        return out

    def command(self) -> list[str]:
        return [sys.executable, "-m", "kenshin", "--config", str(self.site / "kenshin.toml")]

    def stored(self) -> int:
        """Readings in the store."""
        return self.count("SELECT count(*) FROM readings")

    def count(self, query: str) -> int:
        base, _, schema = self.url.partition("?schema=")
        with psycopg.connect(base) as db:
            db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            row = db.execute(query).fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        for name in list(self.workers):
            self.workers[name].kill()
            self.workers.pop(name).communicate(timeout=10)
        if self.broker is not None:
            self.stop_broker()


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """A site of 5 simulated units with its store in PostgreSQL and its broker running."""
    yield from make_cluster(tmp_path, monkeypatch, units=5)


def make_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, units: int, url: str = ""
) -> Iterator[Cluster]:
    """A site of ``units`` simulated units, its store in PostgreSQL (``url``, or a schema
    of the run's database), its broker running. Skips, saying why, without Mosquitto."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(f"needs Mosquitto ({MOSQUITTO}; Debian: apt-get install mosquitto)")
    site = make_site(tmp_path, "site")
    cluster = Cluster(site, url or postgres_url(tmp_path), steady_port(), tmp_path)
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    assert kenshin(site, "db", "upgrade").exit_code == 0
    assert kenshin(site, "customers", "add", "C-001", "--name", "Example").exit_code == 0
    assert simulate(site, units).exit_code == 0
    added = kenshin(
        site, "devices", "add", "--customer", "C-001", "--file", str(site / "fleet.devices.csv")
    )
    assert added.exit_code == 0, added.output
    certs = str(site / "certs")
    issued = kenshin(site, "devices", "add", *ids(site), "--customer", "C-001", "--out", certs)
    assert issued.exit_code == 0, issued.output
    user = pwd.getpwuid(os.geteuid()).pw_name
    out = str(site / "broker")
    done = kenshin(
        site,
        "broker-config",
        "mosquitto",
        "--out",
        out,
        "--port",
        str(cluster.port),
        "--user",
        user,
    )
    assert done.exit_code == 0, done.output
    cluster.start_broker()
    try:
        yield cluster
    finally:
        cluster.stop()


def files_equal_truth(cluster: Cluster) -> None:
    """Export the day and check every slot of the file against the simulator's truth:
    equal, or estimated where the fleet's faults leave no reading to take it from."""
    exported = kenshin(cluster.site, "export", "--customer", "C-001", "--date", DAY.isoformat())
    assert exported.exit_code == 0, exported.output
    truth = load_truth(cluster.site / "fleet.truth.csv")
    check = verify_files(LocalOutbox(cluster.site / "outbox"), Customer("C-001", "Example"), truth)
    assert (check.mismatches, check.missing) == ([], 0)
    assert check.matched + check.estimated == len(truth)


__all__ = ["DAY", "Cluster", "files_equal_truth", "make_cluster"]
