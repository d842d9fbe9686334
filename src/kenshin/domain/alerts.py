"""Alerts: what an alert is, what to notify of it, and how a notification reads.

The rules (``domain.alert_rules``) turn what the server sees into ``Alert``s, each
with a stable key. ``plan_notifications`` compares the alerts active now with the
stored state: a new key fires once, an alert still active repeats every ``repeat_s``,
a key no longer active is resolved once. ``rate_limited`` splits a channel's queue into
messages: what exceeds the channel's rate goes in one digest or waits, and is never
dropped. All times are UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from kenshin.domain.model import DEFAULT_TIMEZONE
from kenshin.domain.slots import zone

_T = TypeVar("_T")
LISTED = 10  # devices or addresses named in a text; the rest are counted


class Severity(StrEnum):
    """How urgent an alert is."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Event(StrEnum):
    """Why a notification is sent."""

    FIRING = "firing"
    REPEAT = "repeat"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """A problem that is there now. ``text`` says what happened, where and what to do;
    ``since`` when it began; ``zone`` the local time zone its times are shown in."""

    key: str
    severity: Severity
    title: str
    text: str
    customer: str | None = None
    since: int = 0
    zone: str = DEFAULT_TIMEZONE


def shown_time(t: int, zone_name: str) -> str:
    """``t`` in local time with its zone, then in UTC: '2026-11-27 13:20 JST (04:20 UTC)'."""
    local = datetime.fromtimestamp(t, zone(zone_name))
    utc = datetime.fromtimestamp(t, UTC)
    if local.tzname() == "UTC":
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    day = "" if utc.date() == local.date() else f"{utc:%Y-%m-%d} "
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({day}{utc:%H:%M} UTC)"


def duration(seconds: int) -> str:
    """A span as '2 d 3 h', '4 h 10 min' or '7 min'."""
    minutes = max(seconds, 0) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def listed(names: Sequence[str]) -> str:
    """The first ``LISTED`` names, then how many more: 'a, b and 3 more'."""
    more = len(names) - LISTED
    return ", ".join(names[:LISTED]) + (f" and {more} more" if more > 0 else "")


# what to notify


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert that is active, as stored: its latest form (``since`` from its first
    firing), and when it was last notified."""

    alert: Alert
    notified_at: int


@dataclass(frozen=True, slots=True)
class ResolvedAlert:
    """An alert that ended: its last form (``since`` when it began) and when it ended."""

    alert: Alert
    resolved_at: int


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to send about an alert: firing, repeated while it lasts, or resolved at ``at``."""

    event: Event
    alert: Alert
    at: int


@dataclass(frozen=True, slots=True)
class Queued:
    """A notification waiting for its channel: ids rise in the order they were queued;
    how often sending failed and the last error."""

    id: int
    channel: str
    notification: Notification
    attempts: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class AlertMark:
    """What operators said of an alert's key: who acknowledged it and when (an
    acknowledgement before the alert's ``since`` was of an earlier occurrence), and until
    when its notifications are silenced, and by whom."""

    key: str
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    silenced_until: int | None = None
    silenced_by: str | None = None

    def silenced(self, now: int) -> bool:
        """Whether the alert's notifications are held at ``now``."""
        return self.silenced_until is not None and now < self.silenced_until


@dataclass(frozen=True)
class Plan:
    """What one evaluation does: notifications to send, states to save, keys resolved."""

    notifications: list[Notification]
    states: list[AlertState]
    resolved: list[str]


def plan_notifications(
    active: Iterable[Alert], states: Mapping[str, AlertState], now: int, repeat_s: int
) -> Plan:
    """Fire a new key once; repeat an active one every ``repeat_s`` (at once if its severity
    changed); resolve a stored key that is no longer active once."""
    notifications, saved = [], []
    seen: set[str] = set()
    for alert in active:
        if alert.key in seen:
            continue
        seen.add(alert.key)
        old = states.get(alert.key)
        if old is None:
            notifications.append(Notification(Event.FIRING, alert, now))
            saved.append(AlertState(alert, now))
            continue
        current = replace(alert, since=min(alert.since, old.alert.since))
        escalated = alert.severity != old.alert.severity
        if escalated or now - old.notified_at >= repeat_s:
            event = Event.FIRING if escalated else Event.REPEAT
            notifications.append(Notification(event, current, now))
            saved.append(AlertState(current, now))
        else:
            saved.append(AlertState(current, old.notified_at))
    resolved = sorted(set(states) - seen)
    notifications += [Notification(Event.RESOLVED, states[k].alert, now) for k in resolved]
    return Plan(notifications, saved, resolved)


def silenced(plan: Plan, marks: Mapping[str, AlertMark], now: int, repeat_s: int) -> Plan:
    """``plan`` without the notifications of the keys silenced at ``now``; the state of
    such an alert is saved as if last notified ``repeat_s`` before its silence ends, so
    that it is notified again (as a repeat) when the silence ends if it is still active."""
    held = {k: m.silenced_until or now for k, m in marks.items() if m.silenced(now)}
    if not held:
        return plan
    states = [
        replace(s, notified_at=held[s.alert.key] - repeat_s) if s.alert.key in held else s
        for s in plan.states
    ]
    notes = [n for n in plan.notifications if n.alert.key not in held]
    return Plan(notes, states, plan.resolved)


def rate_limited(
    pending: Sequence[_T],
    sent_at: Iterable[int],
    now: int,
    limit: int,
    window_s: int,
    digest_max: int = 100,
) -> list[list[_T]]:
    """The messages a channel may send now, each a list of pending items in order: while
    fewer than ``limit`` messages went out within ``window_s``, one item each; the last
    room left takes up to ``digest_max`` of the rest as one digest; the others wait."""
    room = limit - sum(1 for t in sent_at if t > now - window_s)
    if room <= 0 or not pending:
        return []
    if len(pending) <= room:
        return [[item] for item in pending]
    single = [[item] for item in pending[: room - 1]]
    return [*single, list(pending[room - 1 : room - 1 + digest_max])]


# how notifications read


def subject(note: Notification, site: str = "kenshin") -> str:
    """A one-line summary: '[kenshin CRITICAL] Ingest stalled...', 'still:', 'RESOLVED'."""
    alert = note.alert
    if note.event == Event.RESOLVED:
        return f"[{site} RESOLVED] {alert.title}"
    still = "still: " if note.event == Event.REPEAT else ""
    return f"[{site} {alert.severity.upper()}] {still}{alert.title}"


def body(note: Notification) -> str:
    """The full text: what happened, where and what to do, since when, and for how long."""
    alert = note.alert
    lasted = duration(note.at - alert.since)
    lines = [alert.text, "", f"Since: {shown_time(alert.since, alert.zone)}"]
    if note.event == Event.RESOLVED:
        lines = [
            f"Resolved at {shown_time(note.at, alert.zone)}, after {lasted}. It was:",
            "",
            *lines,
        ]
    elif note.event == Event.REPEAT:
        lines.append(f"Still active after {lasted}.")
    customer = f", customer {alert.customer}" if alert.customer else ""
    lines.append(f"Severity {alert.severity}, key {alert.key}{customer}.")
    return "\n".join(lines)


def digest_subject(notes: Sequence[Notification], site: str = "kenshin") -> str:
    """The subject of several notifications sent as one message."""
    if len(notes) == 1:
        return subject(notes[0], site)
    firing = sum(1 for n in notes if n.event != Event.RESOLVED)
    resolved = len(notes) - firing
    return f"[{site}] {len(notes)} alert notifications ({firing} active, {resolved} resolved)"


def digest_body(notes: Sequence[Notification], site: str = "kenshin") -> str:
    """Several notifications as one text, one section each."""
    if len(notes) == 1:
        return body(notes[0])
    head = f"{len(notes)} notifications, sent together to keep within the channel's rate limit."
    sections = [f"{subject(n, site)}\n{body(n)}" for n in notes]
    return "\n\n".join([head, *sections])
