"""The cluster's rules: units' topics, who is alive, what is wrong, and the watch over the
lead that tells the alert channels when no worker leads."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from kenshin.config_alerts import AlertsConfig
from kenshin.domain.alerts import Notification
from kenshin.domain.cluster import Member, cluster_state, unit_topic
from kenshin.entrypoints.worker_watch import LeaderlessWatch


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("dt/kenshin/U-1/readings", ("U-1", "readings")),
        ("dt/kenshin/U-1/echonet", ("U-1", "echonet")),
        ("dt/kenshin/U-1/status", ("U-1", "status")),
        ("dt/kenshin/U-1/a/b", None),
        ("dt/kenshin//readings", None),
        ("dt/kenshin/U-1", None),
        ("cmd/kenshin/U-1/resend", None),
    ],
)
def test_a_units_topic_names_its_device_and_kind(
    topic: str, parsed: tuple[str, str] | None
) -> None:
    assert unit_topic(topic) == parsed


def member(name: str, seen_at: int, *, leader: bool = False, role: str = "worker") -> Member:
    return Member(name, role, "host", 1, 0, seen_at, leader)


def test_a_worker_silent_for_three_heartbeats_is_gone() -> None:
    members = [member("w1", 100, leader=True), member("w2", 95), member("w3", 94)]
    state = cluster_state(members, now=110, heartbeat_s=5, workers_expected=3)
    assert [m.name for m in state.alive] == ["w1", "w2"]
    assert [m.name for m in state.gone] == ["w3"]
    assert state.leader is not None
    assert state.leader.name == "w1"
    assert state.problems() == ["2 of 3 workers running (w3 silent)"]


def test_no_live_leader_is_a_problem_unless_the_leader_asks() -> None:
    members = [member("w1", 50, leader=True), member("w2", 100)]
    state = cluster_state(members, now=100, heartbeat_s=5, workers_expected=0)
    assert state.leader is None
    assert state.problems() == ["no worker leads: exports, alerts and the report are not running"]
    assert state.problems(leader_known=True) == []


def test_processes_of_another_role_are_not_counted_as_workers() -> None:
    members = [member("w1", 100, leader=True), member("f1", 100, role="files")]
    state = cluster_state(members, now=100, heartbeat_s=5, workers_expected=2)
    assert state.workers == 1
    assert state.problems() == ["1 of 2 workers running"]


class Recorded:
    """An alert channel that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return "hook"

    def send(self, notes: Sequence[Notification]) -> None:
        self.sent += [(str(n.event), n.alert.key) for n in notes]


def watch_of(name: str, channel: Recorded) -> LeaderlessWatch:
    settings = AlertsConfig.model_validate(
        {"channels": {}, "routes": [{"channel": "hook"}], "repeat_minutes": 1}
    )
    return LeaderlessWatch(name, {"hook": channel}, settings, 5, "Asia/Tokyo")


def test_the_first_live_worker_says_no_one_leads_once_three_heartbeats_passed() -> None:
    first, second = Recorded(), Recorded()
    watches = [watch_of("w2", first), watch_of("w3", second)]
    hung = member("w1", 0, leader=True)  # holds the lead, beats no more
    for now in (20, 30, 35, 95, 100):
        state = cluster_state(
            [hung, member("w2", now), member("w3", now)], now=now, heartbeat_s=5, workers_expected=3
        )
        for watch in watches:
            watch.check(state, now, leading=False)
    assert first.sent == [("firing", "cluster:no-leader"), ("repeat", "cluster:no-leader")]
    assert second.sent == []  # w2 says it
    back = cluster_state(
        [member("w1", 101, leader=True), member("w2", 101)],
        now=101,
        heartbeat_s=5,
        workers_expected=3,
    )
    watches[0].check(back, 101, leading=False)
    assert first.sent[-1] == ("resolved", "cluster:no-leader")
