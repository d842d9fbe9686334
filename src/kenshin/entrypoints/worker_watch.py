"""A cluster without a leader runs no exports, no alerts and no report, and the alerts
cannot say so: they are the leader's. So the workers that do not lead watch the lead
themselves: when no live worker has led for ``LEADERLESS_BEATS`` heartbeats (the leader
hangs, say, still holding its lock), the first live worker by name tells the alert
channels directly, again every ``alerts.repeat_minutes`` while it lasts, and once more
when a worker leads again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from kenshin.config_alerts import AlertsConfig
from kenshin.domain.alerts import Alert, Event, Notification, Severity
from kenshin.domain.cluster import ClusterState
from kenshin.ports import AlertChannel
from kenshin.services.alerting import route

log = logging.getLogger(__name__)

LEADERLESS_BEATS = 3
ALERT_KEY = "cluster:no-leader"


@dataclass
class LeaderlessWatch:
    """One worker's watch over the lead (``check`` at each heartbeat)."""

    name: str
    channels: Mapping[str, AlertChannel]
    settings: AlertsConfig
    heartbeat_s: int
    zone: str
    _since: int | None = None  # when no worker was seen leading
    _sent_at: int | None = None  # when this worker last said so

    def check(self, state: ClusterState, now: int, *, leading: bool) -> None:
        """Judge the heartbeats of ``state`` at ``now`` (the store's clock)."""
        if leading or state.leader is not None:
            if self._sent_at is not None:
                self._send(Event.RESOLVED, now)
            self._since = self._sent_at = None
            return
        if self._since is None:
            self._since = now
        workers = sorted(m.name for m in state.alive if m.role == "worker")
        if not workers or workers[0] != self.name:
            return  # another worker says it (or this one is not seen alive)
        if now - self._since < LEADERLESS_BEATS * self.heartbeat_s:
            return
        repeat_s = self.settings.repeat_minutes * 60
        if self._sent_at is None:
            self._send(Event.FIRING, now)
        elif now - self._sent_at >= repeat_s:
            self._send(Event.REPEAT, now)

    def _send(self, event: Event, now: int) -> None:
        since = self._since or now
        alert = Alert(
            ALERT_KEY,
            Severity.CRITICAL,
            "No worker leads",
            "No worker of the cluster has led since then: exports, alerts, the daily report"
            " and commands to units are not running. A leader that hangs keeps its lock until"
            " its process ends: see 'kenshin cluster status' for the workers and which one"
            " last led, and restart it (docs/cluster.md).",
            since=since,
            zone=self.zone,
        )
        note = Notification(event, alert, now)
        for channel, routed in route([note], self.settings.routes):
            try:
                self.channels[channel].send([routed])
            except Exception as exc:  # the next heartbeat's check tries again
                log.error("alert channel %s failed: %s", channel, exc)  # noqa: TRY400 - said
                return
        log.warning("no worker leads: the alert channels were told (%s)", event)
        self._sent_at = now if event is not Event.RESOLVED else None
