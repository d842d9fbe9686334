"""The customers, and the quality of a customer's day: every meter's flags as that day's
file shows them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field, StrictInt

from kenshin.bootstrap import App
from kenshin.domain.model import (
    DEFAULT_TIMEZONE,
    Customer,
    FlagColumns,
    Labels,
    Layout,
    SlotLabels,
)
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import (
    CUSTOMER_PATTERN,
    actor_of,
    app_of,
    checked_day,
    customer_or_404,
    iso,
    now_of,
)
from kenshin.services.customer_admin import CustomerExists, add_customer, customer_record
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


class CustomerIn(BaseModel):
    """A new customer: its id, name, time zone and file settings."""

    id: Annotated[str, Field(pattern=CUSTOMER_PATTERN)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    timezone: str = DEFAULT_TIMEZONE
    encoding: Literal["utf-8", "utf-8-sig", "cp932"] = "utf-8"
    layout: Layout = Layout.WIDE
    labels: Labels = Labels.EN
    decimals: Annotated[StrictInt, Field(ge=0, le=6)] = 3
    slot_labels: SlotLabels = SlotLabels.START
    flags: FlagColumns = FlagColumns.BLOCK


class CustomerOut(CustomerIn):
    """A customer, with the pattern of its files' names."""

    file_pattern: str


def _out(customer: Customer) -> CustomerOut:
    return CustomerOut.model_validate(customer_record(customer))


@router.get("", response_model=list[CustomerOut], responses=answers())
def list_customers(
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = READ,
) -> list[CustomerOut]:
    """Every customer."""
    return [_out(c) for c in app.store.registry.list_customers()]


@router.get("/{customer_id}", response_model=CustomerOut, responses=answers(404, 422))
def get_customer(
    customer_id: CustomerId,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = READ,
) -> CustomerOut:
    """One customer."""
    return _out(customer_or_404(app, customer_id))


@router.post("", response_model=CustomerOut, status_code=201, responses=answers(409, 422))
def post_customer(
    asked: CustomerIn,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = Depends(allowed(Action.CHANGE_FLEET)),  # noqa: B008 - FastAPI's way
) -> CustomerOut:
    """Add a customer (its files get the default name pattern)."""
    customer = Customer(**asked.model_dump())
    try:
        add_customer(app.store.registry, app.store.audit, actor_of(principal), customer, now=now)
    except CustomerExists as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _out(customer)
