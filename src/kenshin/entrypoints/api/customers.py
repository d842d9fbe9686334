"""The customers, and the quality of a customer's day: every meter's flags as that day's
file shows them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import (
    CUSTOMER_PATTERN,
    answers,
    app_of,
    checked_day,
    customer_or_404,
    iso,
    now_of,
)
from kenshin.services.file_days import file_day

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
CustomerId = Annotated[str, Path(pattern=CUSTOMER_PATTERN, description="The customer's id")]
READ = Depends(allowed(Action.READ))


class MeterFlags(BaseModel):
    """A register's flags of the day, one letter a slot: A actual, E estimated,
    Q questionable, N no value."""

    meter: str
    direction: str
    flags: str


class Quality(BaseModel):
    """A customer's day as its file shows it (``revision``; None: no file yet, as the next
    export would make it): the slots' local starts and each register's flags."""

    customer: str
    date: date
    timezone: str
    revision: int | None
    starts: list[str]
    meters: list[MeterFlags]


@router.get("/{customer_id}/quality/{day}", response_model=Quality, responses=answers(404, 422))
def get_quality(
    customer_id: CustomerId,
    day: Annotated[date, Path(description="The customer's local day, YYYY-MM-DD")],
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    _principal: Principal = READ,
) -> Quality:
    """Every meter's flags of the day, the same as that day's file."""
    customer = customer_or_404(app, customer_id)
    found = file_day(app.store, app.export_settings, customer, checked_day(day), now=now)
    tz = found.customer.timezone
    return Quality(
        customer=customer.id,
        date=day,
        timezone=tz,
        revision=found.revision.revision if found.revision else None,
        starts=[iso(t, tz) or "" for t in found.slots.boundaries][:-1],
        meters=[
            MeterFlags(meter=m, direction=d.value, flags=f)
            for m, d, f in zip(
                found.table.meters, found.table.directions, found.table.flag_texts(), strict=True
            )
        ],
    )
