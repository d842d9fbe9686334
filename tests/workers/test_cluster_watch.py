"""Watching the cluster: fewer workers than configured and no leader reach the alert
channels (a local HTTP sink standing in for a webhook); ``kenshin cluster status`` says
which worker leads and exits 1 when something is wrong."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from alerts.conftest import HttpSink, http_sink  # noqa: F401 - the fixture
from conftest import kenshin, wait_for
from workers.conftest import Cluster, make_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def watched(
    tmp_path: Path,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
    http_sink: HttpSink,  # noqa: F811 - the fixture
) -> Iterator[Cluster]:
    """A cluster of 3 expected workers whose alerts go to the sink's /hook."""
    for cluster in make_cluster(tmp_path, monkeypatch, units=2):
        config = cluster.site / "kenshin.toml"
        hook = http_sink.url("/hook")
        config.write_text(
            config.read_text()
            + f'\n[alerts.channels.hook]\ntype = "webhook"\nurl = "{hook}"\nallow_http = true\n'
            + '\n[[alerts.routes]]\nchannel = "hook"\n'
        )
        monkeypatch.setenv("KENSHIN_CLUSTER__WORKERS", "3")
        monkeypatch.setenv("KENSHIN_ALERTS__EVALUATE_SECONDS", "5")
        cluster.env_extra = {
            "KENSHIN_CLUSTER__WORKERS": "3",
            "KENSHIN_ALERTS__EVALUATE_SECONDS": "5",
        }
        yield cluster


def status_with(cluster: Cluster, text: str) -> Result | None:
    """``kenshin cluster status`` once its output holds ``text``."""
    status = kenshin(cluster.site, "cluster", "status")
    return status if text in status.output else None


def notes(sink: HttpSink, key: str) -> list[str]:
    """The events of the notifications about ``key`` the sink got, in order."""
    found = [n for body in sink.bodies("/hook") for n in body["notifications"]]
    return [n["event"] for n in found if n["key"] == key]


def test_fewer_workers_than_configured_is_an_alert_and_a_failed_status(
    watched: Cluster,
    http_sink: HttpSink,  # noqa: F811 - the fixture
) -> None:
    watched.start_worker("w1", **watched.env_extra)
    watched.start_worker("w2", **watched.env_extra)
    wait_for("the alert", lambda: notes(http_sink, "down:workers") == ["firing"], timeout_s=30)
    status = wait_for("both beating", lambda: status_with(watched, "2 workers alive; leader: w1"))
    assert status is not None
    assert status.exit_code == 1
    assert "problem: 2 of 3 workers running\n" in status.output
    # The broker's backlog, as Mosquitto tells it every 10 s ($SYS): no units, none held
    # but the broker's own retained $SYS messages.
    wait_for("the broker's backlog", lambda: status_with(watched, "; the broker holds "))
    watched.start_worker("w3", **watched.env_extra)
    wait_for(
        "resolved", lambda: notes(http_sink, "down:workers") == ["firing", "resolved"], timeout_s=30
    )
    assert kenshin(watched.site, "cluster", "status").exit_code == 0


def test_a_leader_that_hangs_is_said_by_another_worker(
    watched: Cluster,
    http_sink: HttpSink,  # noqa: F811 - the fixture
) -> None:
    watched.start_worker("w1", **watched.env_extra)
    watched.start_worker("w2", **watched.env_extra)
    watched.start_worker("w3", **watched.env_extra)
    wait_for("w1 leads", lambda: status_with(watched, "3 workers alive; leader: w1"))
    leader = watched.workers["w1"]
    leader.send_signal(signal.SIGSTOP)  # it holds the lock, and beats no more
    try:
        wait_for(
            "no leader said",
            lambda: notes(http_sink, "cluster:no-leader") == ["firing"],
            timeout_s=30,
        )
        rows = json.loads(
            kenshin(watched.site, "cluster", "status", "--json").output.split("\nproblem")[0]
        )
        assert {r["name"]: r["state"] for r in rows} == {
            "w1": "silent",
            "w2": "alive",
            "w3": "alive",
        }
    finally:
        leader.send_signal(signal.SIGCONT)
    wait_for(
        "the lead back",
        lambda: notes(http_sink, "cluster:no-leader") == ["firing", "resolved"],
        timeout_s=30,
    )
