"""The fleet at a glance (the console's first page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import iso
from kenshin.entrypoints.api.context import ApiContext, context_of
from kenshin.services.fleet_overview import overview

router = APIRouter(prefix="/api/v1", tags=["overview"])
MESSAGES_LAST_HOUR = "messages_last_hour"  # ApiContext.extra: the server's count, a callable


class Units(BaseModel):
    """Registered units: online (heard within the silent hours), silent, never heard."""

    total: int
    online: int
    silent: int
    never_seen: int
    heard_last_hour: int


class Ingest(BaseModel):
    """What came in: messages in the last hour (None where this process does not ingest)
    and dead letters of the last day."""

    messages_last_hour: int | None
    dead_letters_last_day: int


class OpenAlerts(BaseModel):
    """Alerts firing now."""

    open: int


class OverviewOut(BaseModel):
    """The fleet at a glance, at ``generated_at`` (UTC ISO 8601)."""

    units: Units
    ingest: Ingest
    alerts: OpenAlerts
    generated_at: str


@router.get("/overview", response_model=OverviewOut, responses=answers())
def get_overview(
    context: ApiContext = Depends(context_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = Depends(allowed(Action.READ)),  # noqa: B008 - FastAPI's way
) -> OverviewOut:
    """Units online, silent and never heard; ingest of the last hour; open alerts."""
    alerts = context.app.settings.alerts
    found = overview(
        context.app.store,
        now=int(context.clock()),
        silent_hours=alerts.silent_hours,
        silent_hours_by_customer=alerts.silent_hours_by_customer,
    )
    count = context.extra.get(MESSAGES_LAST_HOUR)
    messages = count() if callable(count) else None
    return OverviewOut(
        units=Units(
            total=found.total,
            online=found.online,
            silent=found.silent,
            never_seen=found.never_seen,
            heard_last_hour=found.heard_last_hour,
        ),
        ingest=Ingest(
            messages_last_hour=messages if isinstance(messages, int) else None,
            dead_letters_last_day=found.dead_letters_last_day,
        ),
        alerts=OpenAlerts(open=found.alerts_open),
        generated_at=iso(found.generated_at) or "",
    )
