"""The processes of a cluster as the store sees them, and what is wrong with them.

Each worker writes a heartbeat every ``cluster.heartbeat_s``; one that has not for
``MISSED_BEATS`` heartbeats is taken for gone. One worker at a time is the leader: it
runs the scheduled work (exports, alerts, the daily report, gap recovery, commands to
units).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MISSED_BEATS = 3  # heartbeats a process may miss before it is taken for gone
UNIT_TOPIC_PREFIX = "dt/kenshin/"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message from a unit through the broker: its topic and payload, when it came,
    the ticket to acknowledge it with (the connection's number and packet id), and when
    the connection it came on was made."""

    topic: str
    payload: bytes
    received_at: int
    ticket: tuple[int, int]
    connected_at: int | None = None


def unit_topic(topic: str) -> tuple[str, str] | None:
    """The device id and the suffix (readings, echonet, status...) of a unit's topic
    ``dt/kenshin/{id}/{suffix}``; None for any other topic."""
    if not topic.startswith(UNIT_TOPIC_PREFIX):
        return None
    device, slash, suffix = topic[len(UNIT_TOPIC_PREFIX) :].partition("/")
    if not device or not slash or not suffix or "/" in suffix:
        return None
    return device, suffix


@dataclass(frozen=True, slots=True)
class Member:
    """One process of the cluster, as its last heartbeat told it (times UTC epoch s;
    ``seen_at`` by the store's clock). ``counts`` are its own figures (messages received,
    committed, waiting, sent again...), ``lag_s`` how long its oldest message not yet
    committed has waited."""

    name: str
    role: str  # "worker": the only role that beats yet; others are not counted as workers
    host: str
    pid: int
    started_at: int
    seen_at: int
    leader: bool = False
    lag_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def alive(self, now: int, heartbeat_s: int) -> bool:
        """Whether its heartbeat is recent enough at ``now``."""
        return now - self.seen_at <= MISSED_BEATS * heartbeat_s


@dataclass(frozen=True, slots=True)
class ClusterState:
    """What ``kenshin cluster status`` shows and the alerts judge: the processes alive,
    those gone, the leader (None if no live worker leads)."""

    alive: tuple[Member, ...]
    gone: tuple[Member, ...]
    leader: Member | None
    workers_expected: int

    @property
    def workers(self) -> int:
        """Live workers."""
        return sum(1 for m in self.alive if m.role == "worker")

    def problems(self, *, leader_known: bool = False) -> list[str]:
        """What is wrong, in words; empty when nothing is. ``leader_known``: asked by
        the leader itself, which its own last heartbeat may not say yet."""
        found = []
        if self.workers and self.leader is None and not leader_known:
            found.append("no worker leads: exports, alerts and the report are not running")
        if self.workers < self.workers_expected:
            found.append(
                f"{self.workers} of {self.workers_expected} workers running"
                + (
                    f" ({', '.join(m.name for m in self.gone if m.role == 'worker')} silent)"
                    if any(m.role == "worker" for m in self.gone)
                    else ""
                )
            )
        return found


def cluster_state(
    members: list[Member], *, now: int, heartbeat_s: int, workers_expected: int
) -> ClusterState:
    """Judge the heartbeats at ``now``."""
    alive = tuple(m for m in members if m.alive(now, heartbeat_s))
    gone = tuple(m for m in members if not m.alive(now, heartbeat_s))
    leaders = [m for m in alive if m.leader and m.role == "worker"]
    return ClusterState(alive, gone, leaders[0] if leaders else None, workers_expected)
