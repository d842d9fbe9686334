"""Alerting: evaluate the rules, keep the alerts' state, queue notifications per channel
and deliver them.

Each evaluation takes a snapshot (``observe``), finds the active alerts
(``domain.alert_rules``), decides what to notify against the stored state, and saves the
new state with the notifications queued for each channel its routes pick, in one
transaction: a crash never loses a notification nor sends one twice from the plan.
The ``NotificationSender`` then delivers each channel's queue in order; a channel that
fails keeps its queue and is retried with a growing wait, so nothing is lost while it
is down. Security events reported by the endpoint and the file servers are buffered
by ``SecurityEventBuffer`` (the SecurityLog's sink) and stored at each evaluation.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace

from kenshin.domain.alert_rules import active_alerts
from kenshin.domain.alerts import Notification, Plan, Severity, plan_notifications, rate_limited
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import (
    CertificateExpiry,
    ChannelFailure,
    DeviceSeen,
    DiskSpace,
    Observations,
    Thresholds,
    UncollectedFile,
)
from kenshin.errors import StoreError
from kenshin.ports import AlertChannel, Alerts, ChannelError, Queued, Store
from kenshin.services.alert_fallback import DirectDelivery
from kenshin.services.receipts import uncollected_files

log = logging.getLogger(__name__)

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
BUFFER_MAX = 100_000  # security events held while the store cannot take them


@dataclass(frozen=True)
class Route:
    """Which notifications go to ``channel``: those at or above ``min_severity`` and, if
    ``customers`` lists any, only those of these customers."""

    channel: str
    min_severity: Severity = Severity.INFO
    customers: tuple[str, ...] = ()

    def takes(self, note: Notification) -> bool:
        """Whether the notification goes to this route's channel."""
        alert = note.alert
        if _RANK[alert.severity] < _RANK[self.min_severity]:
            return False
        return not self.customers or alert.customer in self.customers


@dataclass(frozen=True)
class AlertSettings:
    """When alerts fire, where they go and how fast (see docs/alerts.md)."""

    enabled: bool = True
    evaluate_seconds: int = 60
    repeat_minutes: int = 240
    thresholds: Thresholds = field(default_factory=Thresholds)
    routes: tuple[Route, ...] = ()
    rate_limit_messages: int = 10  # per channel within rate_limit_minutes
    rate_limit_minutes: int = 10
    digest_max: int = 100  # notifications in one digest message
    retry_first_seconds: int = 30
    retry_max_seconds: int = 900
    security_retention_days: int = 30
    channel_down_minutes: int = 5  # a channel failing this long raises an alert
    site: str = "kenshin"  # the name in every subject


def route(notes: Iterable[Notification], routes: Sequence[Route]) -> list[tuple[str, Notification]]:
    """(channel, notification) for every route that takes each notification, in order; a
    channel named by two routes gets it once."""
    outgoing = []
    for note in notes:
        channels = dict.fromkeys(r.channel for r in routes if r.takes(note))
        outgoing += [(channel, note) for channel in channels]
    return outgoing


def evaluate(
    alerts: Alerts, obs: Observations, settings: AlertSettings, direct: DirectDelivery | None = None
) -> Plan:
    """Find the active alerts, plan the notifications against the stored state, and save
    the new state with the notifications queued, in one transaction; with ``direct``,
    a round the store cannot save is delivered directly instead."""
    active = active_alerts(obs, settings.thresholds)
    stored = alerts.alert_states()
    states = stored if direct is None else direct.states(stored)
    plan = plan_notifications(active, states, obs.now, settings.repeat_minutes * 60)
    outgoing = route(plan.notifications, settings.routes)
    if direct is None:
        alerts.save_round(plan.states, plan.resolved, outgoing)
    else:
        direct.save(alerts, stored, plan, outgoing)
    for note in plan.notifications:
        log.warning(
            "alert %s %s (%s): %s",
            note.event,
            note.alert.key,
            note.alert.severity,
            note.alert.title,
        )
    unrouted = [
        n.alert.key for n in plan.notifications if not any(c for c, m in outgoing if m is n)
    ]
    if unrouted:
        log.warning("no channel takes the notifications of %s", ", ".join(sorted(set(unrouted))))
    return plan


def observe(
    store: Store,
    settings: AlertSettings,
    server: Observations,
    last_seen: Mapping[str, int],
    collect_by_hours: int | None = None,
) -> Observations:
    """The snapshot at ``server.now``: what the server knows itself (``server``: ingest,
    disks, components, failures, dead letters), with what the store holds added: the
    customers' time zones, every device with when it last reported (``last_seen``), the
    final files not collected in time (and not since), the recent security events and
    when each unit's certificate not revoked ends."""
    now = server.now
    zones = {c.id: c.timezone for c in store.list_customers()}
    live: dict[str, bool] = {}  # a device whose certificates are all revoked is retired
    ends: dict[str, int] = {}  # when each device's last certificate not revoked ends
    for cert in store.list_certificates():
        live[cert.device] = live.get(cert.device, False) or cert.revoked_at is None
        if cert.revoked_at is None:
            ends[cert.device] = max(ends.get(cert.device, 0), cert.not_after)
    devices = [
        DeviceSeen(d.id, d.customer, last_seen.get(d.id))
        for d in store.list_devices()
        if live.get(d.id, True)
    ]
    window = settings.thresholds.security_window_minutes * 60
    late: Sequence[UncollectedFile] = server.uncollected
    if collect_by_hours is not None:  # a file collected late clears its alert
        late = [
            u
            for u in uncollected_files(store, now, collect_by_hours)
            if store.deliveries.first_collected(u.customer, u.file_name, u.revision) is None
        ]
    owners = {d.id: d.customer for d in store.list_devices()}
    units = [CertificateExpiry(d, end, owners[d]) for d, end in ends.items() if d in owners]
    return replace(
        server,
        customer_zones=zones,
        devices=devices,
        certificates=[*server.certificates, *units],
        uncollected=late,
        security_events=store.alerts.security_events(now - window),
    )


def disk_space(paths: Iterable[str]) -> list[DiskSpace]:
    """Free and total bytes of the file systems holding ``paths``; a path that cannot be
    looked at counts as a full disk, so that it is not missed."""
    found = []
    for path in paths:
        try:
            usage = shutil.disk_usage(path)
        except OSError as exc:
            log.error("cannot read the free space of %s: %s", path, exc)  # noqa: TRY400
            found.append(DiskSpace(path, 0, 0))
            continue
        found.append(DiskSpace(path, usage.free, usage.total))
    return found


class SecurityEventBuffer:
    """The SecurityLog's sink: holds events in memory (any thread) until ``flush`` stores
    them, so that a flood of refusals never waits on the store."""

    def __init__(self, limit: int = BUFFER_MAX) -> None:
        self._events: list[SecurityEvent] = []
        self._lock = threading.Lock()
        self._limit = limit
        self.dropped = 0

    def __call__(self, event: SecurityEvent) -> None:
        """Hold one event; past the limit, count it only (it is logged anyway)."""
        with self._lock:
            if len(self._events) < self._limit:
                self._events.append(event)
            else:
                self.dropped += 1

    def flush(self, alerts: Alerts) -> int:
        """Store the held events; how many. If the store fails they are held again."""
        with self._lock:
            events, self._events = self._events, []
            dropped, self.dropped = self.dropped, 0
        if dropped:
            log.error("%d security events were not kept: the buffer was full", dropped)
        if not events:
            return 0
        try:
            alerts.add_security_events(events)
        except StoreError:
            with self._lock:
                self._events[:0] = events[: self._limit]
            raise
        return len(events)


class NotificationSender:
    """Delivers each channel's queued notifications in order, within its rate limit; a
    channel that fails is retried after 30 s, 60 s... up to the maximum wait."""

    def __init__(
        self,
        alerts: Alerts,
        channels: Iterable[AlertChannel],
        settings: AlertSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._alerts = alerts
        self._channels = {c.name: c for c in channels}
        self._settings = settings
        self._clock = clock
        self._sent: dict[str, deque[int]] = defaultdict(deque)
        self._failures: dict[str, int] = defaultdict(int)
        self._retry_at: dict[str, int] = {}
        self._failing: dict[str, tuple[int, str]] = {}  # since when, last error
        self._gone: set[int] = set()  # sent, but the store could not remove them yet

    def failing(self, now: int, after_s: int) -> list[ChannelFailure]:
        """The channels that have failed for ``after_s`` or longer, as the rules take them."""
        return [
            ChannelFailure(name, error, since, len(self._alerts.queued(name, limit=100_000)))
            for name, (since, error) in sorted(self._failing.items())
            if now - since >= after_s
        ]

    def deliver(self, now: int | None = None) -> int:
        """Send what each channel may send now; how many notifications went out."""
        now = int(self._clock()) if now is None else now
        stray = {q.channel for q in self._alerts.queued(limit=10_000)} - set(self._channels)
        for name in sorted(stray):
            log.error("notifications queued for channel %r, which is not configured: kept", name)
        return sum(self._deliver_channel(name, now) for name in self._channels)

    def _deliver_channel(self, name: str, now: int) -> int:
        if self._retry_at.get(name, now) > now:
            return 0
        settings = self._settings
        window = settings.rate_limit_minutes * 60
        sent_at = self._sent[name]
        while sent_at and sent_at[0] <= now - window:
            sent_at.popleft()
        self._forget_sent()
        limit = settings.rate_limit_messages + settings.digest_max + len(self._gone)
        pending = [q for q in self._alerts.queued(name, limit=limit) if q.id not in self._gone]
        groups = rate_limited(
            pending, sent_at, now, settings.rate_limit_messages, window, settings.digest_max
        )
        count = 0
        for group in groups:
            if not self._send(name, group, now):
                break
            sent_at.append(now)
            count += len(group)
        return count

    def _forget_sent(self) -> None:
        """Remove the sent notifications from the queue; if the store cannot, remember
        them, so that none is sent twice."""
        if not self._gone:
            return
        try:
            self._alerts.delivered(sorted(self._gone))
        except StoreError as exc:
            log.error("sent notifications cannot be removed from the queue now: %s", exc)  # noqa: TRY400
            return
        self._gone.clear()

    def _send(self, name: str, group: Sequence[Queued], now: int) -> bool:
        ids = [q.id for q in group]
        try:
            self._channels[name].send([q.notification for q in group])
        except Exception as exc:
            if not isinstance(exc, ChannelError):
                log.exception("alert channel %s failed unexpectedly", name)
            self._failures[name] += 1
            failures = self._failures[name]
            wait = min(
                self._settings.retry_first_seconds * 2 ** (failures - 1),
                self._settings.retry_max_seconds,
            )
            self._retry_at[name] = now + wait
            self._failing[name] = (self._failing.get(name, (now, ""))[0], str(exc))
            with suppress(StoreError):  # only a count: a full disk must not stop the round
                self._alerts.delivery_failed(ids, str(exc))
            log.warning(
                "alert channel %s failed (%s): its notifications are kept, next try in %d s",
                name,
                exc,
                wait,
            )
            return False
        self._gone.update(ids)
        self._forget_sent()
        if self._failures.pop(name, 0):
            log.info("alert channel %s works again", name)
        self._retry_at.pop(name, None)
        self._failing.pop(name, None)
        return True


class Alerting:
    """Alerting for the server: ``security`` is the SecurityLog's sink; call ``tick``
    every ``evaluate_seconds`` (in a thread: it uses the store and the channels)."""

    def __init__(
        self,
        store: Store,
        channels: Iterable[AlertChannel],
        settings: AlertSettings,
        *,
        collect_by_hours: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.collect_by_hours = collect_by_hours
        self.security = SecurityEventBuffer()
        channels = list(channels)
        self.sender = NotificationSender(store.alerts, channels, settings, clock)
        self.direct = DirectDelivery({c.name: c for c in channels})

    def tick(self, server: Observations, last_seen: Mapping[str, int] | None = None) -> Plan:
        """Store the buffered security events, evaluate at ``server.now`` (``server`` is what
        the server knows itself, ``last_seen`` when each device last reported), queue the
        notifications and deliver what the channels take now. A store that cannot be
        written stops none of it: the round's notifications then go out directly."""
        now = server.now
        alerts = self.store.alerts
        try:
            self.security.flush(alerts)
        except StoreError as exc:  # held for the next round
            log.error("security events cannot be stored now: %s", exc)  # noqa: TRY400
        window = self.settings.thresholds.dead_letter_window_minutes * 60
        dead = self.store.count_dead_letters(since=now - window)  # the store's: a restart keeps it
        failing = self.sender.failing(now, self.settings.channel_down_minutes * 60)
        obs = observe(
            self.store,
            self.settings,
            replace(server, dead_letters=dead, channels_failing=failing),
            last_seen or {},
            self.collect_by_hours,
        )
        plan = evaluate(alerts, obs, self.settings, self.direct)
        self.sender.deliver(now)
        try:
            alerts.prune_security_events(now - self.settings.security_retention_days * 86400)
        except StoreError as exc:
            log.error("old security events cannot be removed now: %s", exc)  # noqa: TRY400
        return plan
