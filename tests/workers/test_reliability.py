"""Workers killed, the leader killed, the broker restarted while units publish: at the
end nothing acknowledged is lost, nothing counted twice, and the exported files equal
the simulator's truth to the mWh."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import kenshin, wait_for
from workers.conftest import DAY, Cluster, files_equal_truth, make_cluster
from workers.test_workers import sent_readings

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """A cluster of 40 simulated units."""
    yield from make_cluster(tmp_path, monkeypatch, units=40)


def start_publishing(
    cluster: Cluster, units: int, wake_minutes: int, faults: str = "all"
) -> subprocess.Popen[str]:
    """The units publish a day to the broker, about 10 s of it. Every fault of the
    simulator by default: with ``conflict``, a message sent again an hour later with other
    values, which the store must settle by send time, since a killed worker's messages
    wait for it at the broker and a unit's refused while the broker restarts come after
    later ones."""
    site = cluster.site
    command = [*cluster.command(), "simulate", "--devices", str(units)]
    command += ["--start", DAY.isoformat(), "--faults", faults, "--seed", "3"]
    command += ["--out", str(site / "fleet.jsonl"), "--host", "127.0.0.1"]
    command += ["--port", str(cluster.port), "--certs", str(site / "certs")]
    command += ["--speed", "8640", "--wake-minutes", str(wake_minutes)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(cluster: Cluster, publishing: subprocess.Popen[str]) -> None:
    """Wait for the units, then for every reading to be stored; check the files."""
    out, err = publishing.communicate(timeout=600)
    assert publishing.returncode == 0, err
    assert "; 0 messages not acknowledged" in out + err
    sent = sent_readings(cluster)
    # Duplicates the fleet sends on purpose are counted once: all is in once the count stops.
    wait_for("the readings stored", lambda: cluster.stored() >= sent * 0.98, timeout_s=120)
    wait_for("nothing waiting at the workers", lambda: settled(cluster), timeout_s=60)
    files_equal_truth(cluster)


def settled(cluster: Cluster) -> bool:
    """Whether the stored count has stopped moving (checked over a heartbeat)."""
    before = cluster.stored()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if cluster.stored() != before:
            return False
        time.sleep(0.05)
    return True


def kill_while_publishing(
    cluster: Cluster, publishing: subprocess.Popen[str], every: int, most: int
) -> int:
    """Kill a worker with SIGKILL each time ``every`` more readings are stored, the next
    one each time, and start it again under its name: how many kills."""
    kills = 0
    while publishing.poll() is None and kills < most:
        goal = cluster.stored() + every
        more = wait_for(
            "more readings stored",
            lambda: cluster.stored() > goal or publishing.poll() is not None,  # noqa: B023 - goal of this round
            timeout_s=120,
        )
        if publishing.poll() is not None or not more:
            break
        victim = ("w1", "w2", "w3")[kills % 3]
        cluster.stop_worker(victim, signal.SIGKILL)
        kills += 1
        cluster.start_worker(victim)  # as its service manager would: same name, same session
    return kills


def test_a_worker_killed_again_and_again_while_units_publish_loses_nothing(
    fleet: Cluster,
) -> None:
    for name in ("w1", "w2", "w3"):
        fleet.start_worker(name)
    publishing = start_publishing(fleet, 40, 60)
    kills = kill_while_publishing(fleet, publishing, 300, 4)
    assert kills >= 2, "the units were done before the workers could be killed"
    finish(fleet, publishing)


@pytest.mark.slow
def test_workers_killed_while_a_thousand_units_publish_lose_nothing(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cluster in make_cluster(tmp_path, monkeypatch, units=1000):
        for name in ("w1", "w2", "w3"):
            cluster.start_worker(name)
        publishing = start_publishing(cluster, 1000, 240)
        assert kill_while_publishing(cluster, publishing, 5000, 100) >= 3
        finish(cluster, publishing)


def test_the_broker_restarted_while_units_publish_loses_nothing(fleet: Cluster) -> None:
    for name in ("w1", "w2"):
        fleet.start_worker(name)
    publishing = start_publishing(fleet, 40, 60)
    wait_for("readings stored", lambda: fleet.stored() > 500, timeout_s=60)
    fleet.stop_broker()  # SIGTERM: Mosquitto saves its sessions and queued messages
    fleet.start_broker()  # units whose wakes failed meanwhile send again; workers reconnect
    assert publishing.poll() is None, "the units were done before the broker restarted"
    finish(fleet, publishing)


def test_the_leader_killed_is_followed_by_another_within_30_s(fleet: Cluster) -> None:
    defaults = {"KENSHIN_CLUSTER__LEADER_CHECK_S": "5"}  # the default: what operators get
    fleet.start_worker("w1", **defaults)
    fleet.start_worker("w2", **defaults)
    first = wait_for("a leader", lambda: leader(fleet), timeout_s=30)
    published = start_publishing(fleet, 40, 240).communicate(timeout=300)
    assert "; 0 messages not acknowledged" in "".join(published)
    fleet.stop_worker(first, signal.SIGKILL)
    killed_at = time.monotonic()
    second = wait_for("another leader", lambda: leader(fleet, besides=first), timeout_s=30)
    took = time.monotonic() - killed_at
    assert second != first
    assert took < 30
    print(f"the lead went from {first} to {second} in {took:.1f} s")
    # The new leader's export run made the day's files; revisions are numbered 1, 2, ...
    # with no gap and none twice, whichever leader made them.
    wait_for(
        "files exported by the new leader",
        lambda: fleet.count("SELECT count(*) FROM revisions") > 0,
        timeout_s=60,
    )
    gaps = fleet.count(
        "SELECT count(*) FROM (SELECT customer, day, max(revision) AS top, count(*) AS n"
        " FROM revisions GROUP BY customer, day) r WHERE top <> n"
    )
    assert gaps == 0


def leader(cluster: Cluster, besides: str = "") -> str:
    """The name of the live worker that says it leads, other than ``besides``; '' if none."""
    result = kenshin(cluster.site, "cluster", "status", "--json")
    rows = json.loads(result.output.split("\nproblem:")[0]) if result.output.strip() else []
    leaders = [
        r["name"]
        for r in rows
        if r["state"] == "alive" and r["role"].endswith("(leader)") and r["name"] != besides
    ]
    return leaders[0] if leaders else ""
