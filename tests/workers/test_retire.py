"""A worker taken out for good: ``kenshin worker --retire`` stores what its session at the
broker kept for it, ends the session, and the broker gives its share to the others."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import pytest

from conftest import kenshin, wait_for
from workers.conftest import DAY, Cluster
from workers.test_workers import publish, sent_readings

pytestmark = pytest.mark.integration


def test_a_retired_worker_leaves_nothing_behind_at_the_broker(cluster: Cluster) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.stop_worker("w2")  # its session stays at the broker and takes its share
    published = publish(cluster, "--wake-minutes", "120")
    assert "; 0 messages not acknowledged" in published.stdout + published.stderr
    sent = sent_readings(cluster)
    held = sent - cluster.stored()
    assert held > 0  # what the broker kept for w2
    retired = subprocess.run(
        [*cluster.command(), "worker", "--name", "w2", "--retire"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **cluster.env},
        check=False,
    )
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.endswith("retired: its session is ended\n")
    wait_for("every reading stored", lambda: cluster.stored() >= sent - 10)
    status = kenshin(cluster.site, "cluster", "status", "--json")
    assert '"w2"' not in status.output
    # From now on w1 gets every message: nothing waits for w2 any more.
    before = cluster.stored()
    next_day = (DAY + timedelta(days=1)).isoformat()
    again = publish(cluster, "--wake-minutes", "120", "--start", next_day)
    assert "; 0 messages not acknowledged" in again.stdout + again.stderr
    more = sent_readings(cluster)
    wait_for("the next day stored by w1", lambda: cluster.stored() >= before + more - 10)
