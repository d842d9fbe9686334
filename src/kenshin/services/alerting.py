"""Alerting: evaluate the rules, keep the alerts' state, queue notifications per channel
and deliver them.

Each evaluation takes a snapshot (``observe``), finds the active alerts
(``domain.alert_rules``), decides what to notify against the stored state, and saves the
new state with the notifications queued for each channel its routes pick, in one
transaction: a crash never loses a notification nor sends one twice from the plan.
The ``NotificationSender`` (``services.alert_sending``) then delivers each channel's
queue in order; a channel that fails keeps its queue and is retried with a growing
wait, so nothing is lost while it is down. Security events reported by the endpoint
and the file servers are buffered by ``SecurityEventBuffer`` (the SecurityLog's sink)
and stored at each evaluation.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from kenshin.config_alerts import AlertsConfig, RouteConfig
from kenshin.domain.alert_rules import active_alerts
from kenshin.domain.alerts import (
    AlertMark,
    AlertState,
    Notification,
    Plan,
    ResolvedAlert,
    plan_notifications,
    silenced,
)
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import (
    CertificateExpiry,
    DeviceSeen,
    DiskSpace,
    Observations,
    UncollectedFile,
)
from kenshin.errors import StoreError
from kenshin.ports import AlertChannel, AlertHistory, Alerts, Certificates, DeadLetters
from kenshin.services.alert_fallback import DirectDelivery
from kenshin.services.alert_sending import NotificationSender
from kenshin.services.receipts import ReceiptPorts, uncollected_files

log = logging.getLogger(__name__)

BUFFER_MAX = 100_000  # security events held while the store cannot take them
HISTORY_DAYS = 90  # an alert that ended is kept this long


def route(
    notes: Iterable[Notification], routes: Sequence[RouteConfig]
) -> list[tuple[str, Notification]]:
    """(channel, notification) for every route that takes each notification, in order; a
    channel named by two routes gets it once."""
    outgoing = []
    for note in notes:
        channels = dict.fromkeys(r.channel for r in routes if r.takes(note))
        outgoing += [(channel, note) for channel in channels]
    return outgoing


def evaluate(
    alerts: Alerts,
    obs: Observations,
    settings: AlertsConfig,
    direct: DirectDelivery | None = None,
    history: AlertHistory | None = None,
) -> Plan:
    """Find the active alerts, plan the notifications against the stored state, and save
    the new state with the notifications queued, in one transaction, then (``history``)
    keep the alerts that ended (an alert silenced
    by an operator is not notified until its silence ends); with ``direct``,
    a round the store cannot save is delivered directly instead."""
    active = active_alerts(obs, settings.thresholds)
    stored = alerts.alert_states()
    states = stored if direct is None else direct.states(stored)
    repeat_s = settings.repeat_minutes * 60
    plan = plan_notifications(active, states, obs.now, repeat_s)
    plan = silenced(plan, _marks(alerts), obs.now, repeat_s)
    outgoing = route(plan.notifications, settings.routes)
    if direct is None:
        alerts.save_round(plan.states, plan.resolved, outgoing)
    else:
        direct.save(alerts, stored, plan, outgoing)
    if history is not None:
        keep_ended(history, states, plan.resolved, obs.now)
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


def keep_ended(
    history: AlertHistory, states: Mapping[str, AlertState], resolved: Sequence[str], now: int
) -> None:
    """Keep the alerts of the ``resolved`` keys as ended ``now``, in their last form
    (logged, not raised, if the store cannot take them: alerting goes on)."""
    ended = [ResolvedAlert(states[k].alert, now) for k in resolved if k in states]
    if not ended:
        return
    try:
        history.add_resolved(ended)
    except StoreError as exc:
        log.error("the alerts that ended cannot be kept now: %s", exc)  # noqa: TRY400


def _marks(alerts: Alerts) -> dict[str, AlertMark]:
    """The operators' marks; none while the store cannot be read (nothing is held then)."""
    try:
        return alerts.alert_marks()
    except StoreError as exc:
        log.error("the alerts' silences cannot be read now: %s", exc)  # noqa: TRY400
        return {}


class AlertingPorts(ReceiptPorts, Protocol):
    """What alerting reads and keeps: the registry, certificates, files and receipts,
    dead letters and alert state. A ``Store`` is one."""

    @property
    def certificates(self) -> Certificates:
        """The certificates issued to devices and their revocations."""

    @property
    def dead_letters(self) -> DeadLetters:
        """Messages that could not be used, with their reasons."""

    @property
    def alerts(self) -> Alerts:
        """Alert state, the notification queue and security events."""

    @property
    def alert_history(self) -> AlertHistory:
        """The alerts that ended."""


def observe(
    store: AlertingPorts,
    settings: AlertsConfig,
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
    zones = {c.id: c.timezone for c in store.registry.list_customers()}
    live: dict[str, bool] = {}  # a device whose certificates are all revoked is retired
    ends: dict[str, int] = {}  # when each device's last certificate not revoked ends
    for cert in store.certificates.list_certificates():
        live[cert.device] = live.get(cert.device, False) or cert.revoked_at is None
        if cert.revoked_at is None:
            ends[cert.device] = max(ends.get(cert.device, 0), cert.not_after)
    devices = [
        DeviceSeen(d.id, d.customer, last_seen.get(d.id))
        for d in store.registry.list_devices()
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
    owners = {d.id: d.customer for d in store.registry.list_devices()}
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


class Alerting:
    """Alerting for the server: ``security`` is the SecurityLog's sink; call ``tick``
    every ``evaluate_seconds`` (in a thread: it uses the store and the channels)."""

    def __init__(
        self,
        store: AlertingPorts,
        channels: Iterable[AlertChannel],
        settings: AlertsConfig,
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
        self.observed: Observations | None = None  # the last round's snapshot

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
        dead = self.store.dead_letters.count_dead_letters(
            since=now - window
        )  # the store's: a restart keeps it
        failing = self.sender.failing(now, self.settings.channel_down_minutes * 60)
        obs = observe(
            self.store,
            self.settings,
            replace(server, dead_letters=dead, channels_failing=failing),
            last_seen or {},
            self.collect_by_hours,
        )
        self.observed = obs
        plan = evaluate(alerts, obs, self.settings, self.direct, self.store.alert_history)
        self.sender.deliver(now)
        try:
            alerts.prune_security_events(now - self.settings.security_retention_days * 86400)
        except StoreError as exc:
            log.error("old security events cannot be removed now: %s", exc)  # noqa: TRY400
        try:
            self.store.alert_history.prune_resolved(now - HISTORY_DAYS * 86400)
        except StoreError as exc:
            log.error("old ended alerts cannot be removed now: %s", exc)  # noqa: TRY400
        return plan
