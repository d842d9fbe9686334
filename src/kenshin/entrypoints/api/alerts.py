"""The open alerts, with who acknowledged them and until when they are silenced, and
those that ended; acknowledging one, and silencing an alert's notifications until a time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel

from kenshin.bootstrap import App
from kenshin.domain.alerts import Alert, AlertMark, AlertState, ResolvedAlert
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import actor_of, app_of, iso, now_of
from kenshin.services.alert_marks import BadSilence, UnknownAlert, acknowledge, silence
from kenshin.services.alerting import HISTORY_DAYS  # kept so long; shown by default

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
# An alert's key ("down:device endpoint", "disk:/data"): printable, "/" included.
AlertKey = Annotated[str, Path(pattern=r"^[^\x00-\x1f\x7f]{1,300}$", description="The alert's key")]
CHANGE = Depends(allowed(Action.CHANGE_FLEET))


class MarkOut(BaseModel):
    """What operators said of an alert: acknowledged by whom and when (of this
    occurrence), silenced until when and by whom (times UTC ISO 8601; None: not)."""

    acknowledged_by: str | None
    acknowledged_at: str | None
    silenced_until: str | None
    silenced_by: str | None


class AlertOut(BaseModel):
    """An open alert: what, since when (UTC ISO 8601), last notified, and the marks."""

    key: str
    severity: str
    title: str
    text: str
    customer: str | None
    since: str
    notified_at: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    silenced_until: str | None
    silenced_by: str | None


class SilenceOut(BaseModel):
    """A silence still running of an alert that is not open now."""

    key: str
    silenced_until: str
    silenced_by: str | None


class EndedOut(BaseModel):
    """An alert that ended: what it was, when it began and when it ended (UTC ISO 8601)."""

    key: str
    severity: str
    title: str
    text: str
    customer: str | None
    since: str
    resolved_at: str


class AlertsOut(BaseModel):
    """The open alerts (most severe first, then oldest), the silences of alerts not
    open now, and the alerts that ended (newest first, at most 500)."""

    open: list[AlertOut]
    silenced: list[SilenceOut]
    history: list[EndedOut]


HISTORY_LIMIT = 500
Since = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:?\d{2})$",
        description="The alerts that ended at or after this time (ISO 8601 with offset);"
        " default: all those kept (90 days)",
    ),
]


class SilenceAsked(BaseModel):
    """Until when the alert's notifications are held (ISO 8601 with offset)."""

    until: AwareDatetime


class MarkedOut(BaseModel):
    """An alert's key and what operators said of it now."""

    key: str
    mark: MarkOut


_RANK = {"critical": 0, "warning": 1, "info": 2}


def _mark(mark: AlertMark, since: int = 0) -> MarkOut:
    """``mark`` as shown; an acknowledgement of an earlier occurrence (before ``since``)
    is not shown."""
    acked = mark.acknowledged_at is not None and mark.acknowledged_at >= since
    return MarkOut(
        acknowledged_by=mark.acknowledged_by if acked else None,
        acknowledged_at=iso(mark.acknowledged_at) if acked else None,
        silenced_until=iso(mark.silenced_until),
        silenced_by=mark.silenced_by if mark.silenced_until is not None else None,
    )


def _open(state: AlertState, mark: AlertMark) -> AlertOut:
    shown = _mark(mark, state.alert.since)
    notified = iso(state.notified_at) or ""
    return AlertOut(**_shown(state.alert), notified_at=notified, **shown.model_dump())


def _ended(ended: ResolvedAlert) -> EndedOut:
    return EndedOut(**_shown(ended.alert), resolved_at=iso(ended.resolved_at) or "")


def _shown(a: Alert) -> dict[str, Any]:
    """What an open alert and one that ended both show of it."""
    since = iso(a.since) or ""
    return {
        "key": a.key,
        "severity": str(a.severity),
        "title": a.title,
        "text": a.text,
        "customer": a.customer,
        "since": since,
    }


def _since(since: str | None, now: int) -> int:
    """The epoch of ``since`` (90 days back from ``now`` when None); 422 for no such time."""
    if since is None:
        return now - HISTORY_DAYS * 86400
    try:
        return int(datetime.fromisoformat(since).timestamp())
    except ValueError as exc:
        raise HTTPException(422, f"since: {since} is no time (ISO 8601 with offset)") from exc


@router.get("", response_model=AlertsOut, responses=answers(422))
def list_alerts(
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    since: Since = None,
    _principal: Principal = Depends(allowed(Action.READ)),  # noqa: B008 - FastAPI's way
) -> AlertsOut:
    """The open alerts, the silences running of alerts not open now, and the alerts
    that ended since ``since``, newest first (at most 500)."""
    history = app.store.alert_history.resolved(_since(since, now), HISTORY_LIMIT)
    states = app.store.alerts.alert_states()
    marks = app.store.alerts.alert_marks()
    ordered = sorted(states.values(), key=lambda s: (_RANK.get(s.alert.severity, 3), s.alert.since))
    return AlertsOut(
        open=[_open(s, marks.get(s.alert.key, AlertMark(s.alert.key))) for s in ordered],
        silenced=[
            SilenceOut(
                key=m.key, silenced_until=iso(m.silenced_until) or "", silenced_by=m.silenced_by
            )
            for m in sorted(marks.values(), key=lambda m: m.key)
            if m.key not in states and m.silenced(now)
        ],
        history=[_ended(e) for e in history],
    )


@router.post("/{key:path}/acknowledge", response_model=MarkedOut, responses=answers(404, 422))
def acknowledge_alert(
    key: AlertKey,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = CHANGE,
) -> MarkedOut:
    """Acknowledge the open alert ``key``: the list shows who and when until it ends."""
    try:
        mark = acknowledge(app.store.alerts, app.store.audit, actor_of(principal), key, now=now)
    except UnknownAlert as exc:
        raise HTTPException(404, str(exc)) from exc
    return MarkedOut(key=key, mark=_mark(mark))


@router.post("/{key:path}/silence", response_model=MarkedOut, responses=answers(404, 422))
def silence_alert(
    key: AlertKey,
    asked: SilenceAsked,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = CHANGE,
) -> MarkedOut:
    """Hold the notifications of alert ``key`` (open now or not) until ``until``; if it
    is still open then, it is notified again."""
    until = int(asked.until.timestamp())
    actor = actor_of(principal)
    try:
        mark = silence(app.store.alerts, app.store.audit, actor, key, until=until, now=now)
    except BadSilence as exc:
        raise HTTPException(422, str(exc)) from exc
    return MarkedOut(key=key, mark=_mark(mark))
