"""``kenshin worker`` on Mosquitto and PostgreSQL: units publish to the broker, workers
store what they send and acknowledge it only once stored."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import steady_port, wait_for
from workers.conftest import DAY, Cluster, files_equal_truth

pytestmark = pytest.mark.integration


def publish(cluster: Cluster, *extra: str) -> subprocess.CompletedProcess[str]:
    site = cluster.site
    command = [*cluster.command(), "simulate", "--devices", "5", "--start", DAY.isoformat()]
    command += ["--faults", "all", "--seed", "3", "--out", str(site / "fleet.jsonl")]
    command += ["--host", "127.0.0.1", "--port", str(cluster.port), "--certs", str(site / "certs")]
    command += ["--speed", "max", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def sent_readings(cluster: Cluster) -> int:
    lines = (cluster.site / "fleet.jsonl").read_text().splitlines()
    return sum(len(m["readings"]) for line in lines for m in json.loads(line)["meters"])


def test_two_workers_store_what_units_publish_to_the_broker(cluster: Cluster) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    published = publish(cluster, "--wake-minutes", "120")
    assert published.returncode == 0, published.stderr
    assert "; 0 messages not acknowledged" in published.stdout + published.stderr
    sent = sent_readings(cluster)
    wait_for("every reading stored", lambda: cluster.stored() >= sent - 10, timeout_s=60)
    for name in ("w1", "w2"):
        cluster.stop_worker(name)
    files_equal_truth(cluster)


def test_a_broker_that_cannot_be_reached_stops_the_worker_saying_where(
    cluster: Cluster,
) -> None:
    port = steady_port()  # nothing listens there
    result = subprocess.run(
        [*cluster.command(), "worker", "--name", "w1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **cluster.env, "KENSHIN_BROKER__URL": f"mqtts://127.0.0.1:{port}"},
        check=False,
    )
    assert result.returncode == 1
    assert f"Error: cannot reach the broker at 127.0.0.1 port {port}" in result.stderr
