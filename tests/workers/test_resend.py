"""A broker crash on a cluster: what Mosquitto acknowledged to the units but had neither
handed to a worker nor saved is lost, and gap recovery's resend brings it back from the
units (``kenshin simulate --answer-commands``)."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterable
from datetime import datetime

import pytest

from conftest import wait_for
from kenshin.sim.files import read_messages
from kenshin.sim.transmission import Message
from kenshin.sim.wakes import plan_wakes
from workers.conftest import DAY, Cluster, files_equal_truth

pytestmark = pytest.mark.integration

WAKE_MINUTES = 60
# The wakes of the day in four windows: before the crash, while no worker is connected
# (lost with the broker), after it, and with the units answering their commands. The third
# ends late enough for each unit to have reported after what was lost (a unit offline for
# up to 8 hours sends its backlog when back): only then are the readings lost holes.
EDGES = (f"{DAY}T06:00", f"{DAY}T10:00", f"{DAY}T20:00")
# Gap recovery looks back far enough to see the simulated day's holes.
RECOVERING = {"KENSHIN_RECOVERY__LOOKBACK_HOURS": "120"}
NOT_RECOVERING = {"KENSHIN_RECOVERY__ENABLED": "false"}


def publish(cluster: Cluster, *window: str) -> str:
    """The fleet's wakes in ``window`` published to the broker: what the simulator said."""
    site = cluster.site
    command = [*cluster.command(), "simulate", "--devices", "5", "--start", DAY.isoformat()]
    command += ["--faults", "all", "--seed", "3", "--out", str(site / "fleet.jsonl")]
    command += ["--host", "127.0.0.1", "--port", str(cluster.port), "--certs", str(site / "certs")]
    command += ["--speed", "max", "--wake-minutes", str(WAKE_MINUTES), *window]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "; 0 messages not acknowledged" in done.stdout, done.stdout
    return done.stdout


def readings_by_window(cluster: Cluster) -> list[set[tuple[str, int]]]:
    """The (meter, time) of the readings each window's wakes carry, those dated in the
    future (which the store quarantines) left out."""
    edges = [int(datetime.fromisoformat(f"{edge}+09:00").timestamp()) for edge in EDGES]
    windows: list[set[tuple[str, int]]] = [set() for _ in range(len(edges) + 1)]
    messages = read_messages(cluster.site / "fleet.jsonl")
    for wake in plan_wakes(messages, WAKE_MINUTES * 60):
        windows[sum(wake.at >= edge for edge in edges)] |= set(_readings(wake.messages))
    return windows


def _readings(messages: Iterable[Message]) -> Iterable[tuple[str, int]]:
    for message in messages:
        sent = datetime.fromisoformat(message["sent"]).timestamp()
        for block in message["meters"]:
            for reading in block["readings"]:
                t = int(datetime.fromisoformat(reading["t"]).timestamp())
                if t <= sent + 86_400:
                    yield block["meter"], t


def asked(cluster: Cluster, lost: set[tuple[str, int]]) -> bool:
    """Whether each unit of a meter with ``lost`` readings has had a resend sent."""
    rows = (cluster.site / "fleet.devices.csv").read_text().split()[1:]
    device_of = {meter: device for device, meter in (row.split(",") for row in rows)}
    devices = {device_of[meter] for meter, _ in lost}
    listed = ", ".join(f"'{device}'" for device in sorted(devices))
    query = "SELECT count(DISTINCT device) FROM commands WHERE acknowledged_at IS NOT NULL"
    return cluster.count(f"{query} AND device IN ({listed})") == len(devices)


def stored_of(cluster: Cluster, readings: set[tuple[str, int]]) -> int:
    """How many of ``readings`` (meter, time) the store has."""
    listed = ", ".join(f"('{meter}', {t})" for meter, t in sorted(readings))
    return cluster.count(
        "SELECT count(*) FROM readings r JOIN reading_meters m ON m.key = r.meter"
        f" WHERE (m.id, r.t) IN (VALUES {listed})"
    )


def sent(cluster: Cluster) -> int:
    """The commands queued, once the leader has sent every one (0 until then)."""
    queued = cluster.count("SELECT count(*) FROM commands")
    acknowledged = cluster.count("SELECT count(*) FROM commands WHERE acknowledged_at IS NOT NULL")
    return queued if queued == acknowledged else 0


def test_readings_a_broker_crash_lost_come_back_from_the_units(cluster: Cluster) -> None:
    before, lost_window, after, answering = readings_by_window(cluster)
    cluster.start_worker("w1", **NOT_RECOVERING)
    publish(cluster, "--publish-until", EDGES[0])
    wait_for("the morning stored", lambda: cluster.stored() == len(before), timeout_s=60)
    # The worker's session stays at the broker, which keeps what comes for it meanwhile.
    cluster.stop_worker("w1")
    kept = publish(cluster, "--publish-from", EDGES[0], "--publish-until", EDGES[1])
    assert re.search(r": (\d+) of \1 messages acknowledged", kept), kept
    cluster.stop_broker(signal.SIGKILL)  # before its autosave: what it kept is gone
    cluster.start_broker()
    cluster.start_worker("w1", **NOT_RECOVERING)
    publish(cluster, "--publish-from", EDGES[1], "--publish-until", EDGES[2])
    lost = lost_window - before - after
    wait_for("the afternoon stored", lambda: stored_of(cluster, after) == len(after), 60)
    assert len(lost) > 0
    assert stored_of(cluster, lost) == 0  # every reading only the crashed window carried
    assert cluster.stored() == len(before | after)

    # The worker again, recovering gaps: it leads, and asks the units at once. (Another
    # worker taking over instead would leave w1's session at the broker, which would keep
    # w1's share of the units' messages for it until it came back.)
    cluster.stop_worker("w1")
    cluster.start_worker("w1", **RECOVERING)
    wait_for("a resend to every unit that lost readings", lambda: asked(cluster, lost))
    commands = wait_for("every resend sent", lambda: sent(cluster))
    answered = publish(cluster, "--publish-from", EDGES[2], "--answer-commands")
    assert f"; {commands} commands answered with" in answered, answered
    everything = before | lost_window | after | answering
    wait_for("every reading stored", lambda: cluster.stored() == len(everything), 60)
    cluster.stop_worker("w1")

    files_equal_truth(cluster)
