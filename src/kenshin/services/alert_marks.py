"""Operators acknowledge an open alert (who and when is shown with it) or silence an
alert's notifications until a time; each change is in the audit log."""

from __future__ import annotations

from dataclasses import asdict, replace

from kenshin.domain.alerts import AlertMark
from kenshin.domain.operators import Actor
from kenshin.errors import KenshinError
from kenshin.ports import Alerts, AuditLog
from kenshin.services.audit import record

MAX_SILENCE_S = 90 * 86_400  # a silence longer than this is a mistake more often than not


class UnknownAlert(KenshinError):
    """No open alert has the key."""


class BadSilence(KenshinError):
    """A silence that ends in the past or too far ahead."""


def acknowledge(alerts: Alerts, audit: AuditLog, actor: Actor, key: str, *, now: int) -> AlertMark:
    """Acknowledge the open alert ``key`` as ``actor`` at ``now``; UnknownAlert if no
    open alert has it."""
    if key not in alerts.alert_states():
        raise UnknownAlert(f"no open alert {key!r}")
    before = alerts.alert_marks().get(key, AlertMark(key))
    after = replace(before, acknowledged_by=actor.who, acknowledged_at=now)
    alerts.mark_alert(after)
    record(
        audit,
        actor,
        action="alerts.acknowledge",
        kind="alert",
        key=key,
        before=asdict(before),
        after=asdict(after),
    )
    return after


def silence(
    alerts: Alerts, audit: AuditLog, actor: Actor, key: str, *, until: int, now: int
) -> AlertMark:
    """Hold the notifications of alert ``key`` (open now or not) until ``until``; an
    ``until`` not after ``now`` or more than 90 days ahead is a BadSilence."""
    if not now < until <= now + MAX_SILENCE_S:
        raise BadSilence("a silence ends after now and at most 90 days ahead")
    before = alerts.alert_marks().get(key, AlertMark(key))
    after = replace(before, silenced_until=until, silenced_by=actor.who)
    alerts.mark_alert(after)
    record(
        audit,
        actor,
        action="alerts.silence",
        kind="alert",
        key=key,
        before=asdict(before),
        after=asdict(after),
    )
    return after
