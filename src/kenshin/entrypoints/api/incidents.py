"""What went wrong lately: dead letters, conflicting readings and security events, and
the daily data-quality report of a day."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import app_of, iso, now_of
from kenshin.services import fleet_lists

router = APIRouter(prefix="/api/v1", tags=["incidents"])
READ = Depends(allowed(Action.READ))
AUDIT = Depends(allowed(Action.READ_AUDIT))
T = TypeVar("T")
DAY_S = 86_400
TEXT_CHARS = 2_000  # the most of a payload shown as text
# Said ("true") on a list cut at its limit: older ones than those listed were left out.
TRUNCATED = "X-Truncated"
Limit = Annotated[int, Query(ge=1, le=10_000, description="The most to list")]
Since = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:?\d{2})$",
        description="Only those at or after this time (ISO 8601 with offset); default: a day",
    ),
]


class DeadLetterOut(BaseModel):
    """A message that could not be used: why, where it came from (``topic``: the MQTT
    topic or file), when (ISO 8601 in its customer's zone, else UTC), and its payload as
    base64 and (when it is UTF-8) as text cut at ``TEXT_CHARS`` characters."""

    received_at: str
    topic: str
    device: str | None
    reason: str
    size: int
    payload_base64: str
    payload_text: str | None
    truncated: bool


class ConflictOut(BaseModel):
    """A reading that came again with another value: the registers kept (the first sent)
    and the other's, the reading's time and when the second came (customer's zone)."""

    meter: str
    device: str | None
    t: str
    stored_fwd: int | None
    stored_rev: int | None
    received_fwd: int | None
    received_rev: int | None
    received_at: str


class SecurityEventOut(BaseModel):
    """A refusal that may be an attack (UTC ISO 8601), with its kind's severity."""

    at: str
    kind: str
    severity: str
    who: str | None
    address: str
    detail: str


def _since(since: str | None, now: int) -> int:
    """The epoch of ``since`` (a day back from ``now`` when None); 422 for no such time."""
    if since is None:
        return now - DAY_S
    try:
        return int(datetime.fromisoformat(since).timestamp())
    except ValueError as exc:
        raise HTTPException(422, f"since: {since} is no time (ISO 8601 with offset)") from exc


def _cut(found: list[T], limit: int, response: Response) -> list[T]:
    """The first ``limit`` of ``found`` (read with one more), saying so when there were more."""
    response.headers[TRUNCATED] = "true" if len(found) > limit else "false"
    return found[:limit]


def _letter(z: fleet_lists.ZonedLetter) -> DeadLetterOut:
    d = z.letter
    try:
        text: str | None = d.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    truncated = text is not None and len(text) > TEXT_CHARS
    return DeadLetterOut(
        received_at=iso(d.received_at, z.zone) or "",
        topic=d.source,
        device=d.device,
        reason=d.reason,
        size=len(d.payload),
        payload_base64=base64.b64encode(d.payload).decode("ascii"),
        payload_text=None if text is None else text[:TEXT_CHARS],
        truncated=truncated,
    )


@router.get("/dead-letters", response_model=list[DeadLetterOut], responses=answers(422))
def list_dead_letters(
    response: Response,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    since: Since = None,
    limit: Limit = 100,
    _principal: Principal = READ,
) -> list[DeadLetterOut]:
    """Messages that could not be used, since ``since`` (default: the last day): the
    ``limit`` received last, newest first; ``X-Truncated: true`` when older ones were
    left out."""
    found = fleet_lists.dead_letters(app.store, limit + 1, _since(since, now), newest=True)
    return [_letter(z) for z in _cut(found, limit, response)]


@router.get("/conflicts", response_model=list[ConflictOut], responses=answers(422))
def list_conflicts(
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    limit: Limit = 100,
    _principal: Principal = READ,
) -> list[ConflictOut]:
    """Readings that came again with another value, oldest first (as ``kenshin
    conflicts`` lists them)."""
    return [
        ConflictOut(
            meter=z.conflict.meter,
            device=z.device,
            t=iso(z.conflict.t, z.zone) or "",
            stored_fwd=z.conflict.stored_fwd,
            stored_rev=z.conflict.stored_rev,
            received_fwd=z.conflict.new_fwd,
            received_rev=z.conflict.new_rev,
            received_at=iso(z.conflict.received_at, z.zone) or "",
        )
        for z in fleet_lists.conflicts(app.store, limit)
    ]


@router.get("/security-events", response_model=list[SecurityEventOut], responses=answers(422))
def list_security_events(
    response: Response,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    since: Since = None,
    limit: Limit = 1000,
    _principal: Principal = AUDIT,
) -> list[SecurityEventOut]:
    """Security events since ``since`` (default: the last day): the newest ``limit``,
    newest first; ``X-Truncated: true`` when older ones were left out. For operators and
    admins, as the audit log: the events name what clients tried (a name typed at
    sign-in, which may be a password) and tell a wrong code from a wrong password."""
    found = fleet_lists.security_events(app.store, _since(since, now), limit + 1)
    return [
        SecurityEventOut(
            at=iso(r.event.at) or "",
            kind=r.event.kind,
            severity=r.severity.value,
            who=r.event.who,
            address=r.event.address,
            detail=r.event.detail,
        )
        for r in _cut(found, limit, response)
    ]
