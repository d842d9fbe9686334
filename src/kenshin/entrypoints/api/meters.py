"""The meters: their list, one meter with its time in service, a meter's day and week of
slots exactly as the customer's file shows them, and why a slot shows what it shows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.energy import UNIT_LABEL
from kenshin.domain.model import Customer, Direction, Meter
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import (
    CUSTOMER_PATTERN,
    DEVICE_PATTERN,
    METER_PATTERN,
    app_of,
    checked_day,
    iso,
    now_of,
)
from kenshin.services.file_days import RegisterDay, file_day

router = APIRouter(prefix="/api/v1/meters", tags=["meters"])
MeterId = Annotated[str, Path(pattern=METER_PATTERN, description="The meter's id")]
Day = Annotated[date, Path(description="The customer's local day, YYYY-MM-DD")]
READ = Depends(allowed(Action.READ))


class MeterOut(BaseModel):
    """A meter: its device and customer, register, maximum demand and time in service."""

    id: str
    device: str
    customer: str | None
    unit: str
    coefficient: int
    digits: int
    max_demand_kw: float
    max_demand_of: str  # "meter" (its own) or "default" (meters.max_demand_kw)
    installed: str | None  # ISO 8601 in the customer's zone; None: not known
    removed: str | None  # None: in service


class ServiceSpan(BaseModel):
    """A time in service: from ``installed`` (None: not known) to ``removed`` (None: now)."""

    installed: str | None
    removed: str | None
    removal_by_operator: bool


class MeterDetail(MeterOut):
    """A meter with its time in service."""

    timezone: str | None
    service: list[ServiceSpan]


class Slot(BaseModel):
    """A slot: its local start, its kWh as the file writes it (None: no value), its flag
    (A actual, E estimated, Q questionable, N no value)."""

    start: str
    kwh: str | None
    flag: str


class MeterDayOut(BaseModel):
    """A meter's day as the customer's file shows it (``revision``; None: no file yet,
    as the next export would make it). ``slots`` are the forward register's, ``reverse``
    the reverse register's where the meter has one; both empty when the meter was out
    of service all day."""

    meter: str
    customer: str
    date: date
    timezone: str
    revision: int | None
    slots: list[Slot]
    reverse: list[Slot] | None


class MeterWeek(BaseModel):
    """Seven days of a meter from ``date``."""

    meter: str
    date: date
    days: list[MeterDayOut]


def meter_out(app: App, meter: Meter, customers: dict[str, Customer]) -> dict[str, object]:
    """The fields of MeterOut of ``meter``; ``customers`` by device."""
    customer = customers.get(meter.device)
    tz = customer.timezone if customer else None
    default_w = app.settings.meters.max_demand_kw * 1000
    return {
        "id": meter.id,
        "device": meter.device,
        "customer": customer.id if customer else None,
        "unit": UNIT_LABEL.get(meter.spec.unit_mwh, f"{meter.spec.unit_mwh} mWh"),
        "coefficient": meter.spec.coefficient,
        "digits": meter.spec.digits,
        "max_demand_kw": meter.demand_limit_w(default_w) / 1000,
        "max_demand_of": "default" if meter.max_demand_w is None else "meter",
        "installed": iso(meter.installed_at, tz),
        "removed": iso(meter.removed_at, tz),
    }


def customers_by_device(app: App) -> dict[str, Customer]:
    """Each device's customer, by device."""
    registry = app.store.registry
    customers = {c.id: c for c in registry.list_customers()}
    return {d.id: customers[d.customer] for d in registry.list_devices() if d.customer in customers}


@router.get("", response_model=list[MeterOut], responses=answers(422))
def list_meters(
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    customer: Annotated[str | None, Query(pattern=CUSTOMER_PATTERN)] = None,
    device: Annotated[str | None, Query(pattern=DEVICE_PATTERN)] = None,
    _principal: Principal = READ,
) -> list[dict[str, object]]:
    """The meters (of one customer's devices, or of one device)."""
    found = app.store.registry.list_meters(customer, device_id=device)
    by_device = customers_by_device(app)
    return [meter_out(app, m, by_device) for m in found]


def meter_or_404(app: App, meter_id: str) -> tuple[Meter, Customer]:
    """The meter and its customer, or 404."""
    meter = app.store.registry.get_meter(meter_id)
    if meter is None:
        raise HTTPException(404, f"no meter {meter_id!r}")
    device = app.store.registry.get_device(meter.device) if meter.device else None
    customer = app.store.registry.get_customer(device.customer) if device else None
    if customer is None:
        raise HTTPException(404, f"meter {meter_id} has no registered device, so no customer")
    return meter, customer


@router.get("/{meter_id}", response_model=MeterDetail, responses=answers(404, 422))
def get_meter(
    meter_id: MeterId,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = READ,
) -> dict[str, object]:
    """One meter with its time in service."""
    meter = app.store.registry.get_meter(meter_id)
    if meter is None:
        raise HTTPException(404, f"no meter {meter_id!r}")
    by_device = customers_by_device(app)
    customer = by_device.get(meter.device)
    tz = customer.timezone if customer else None
    span = {
        "installed": iso(meter.installed_at, tz),
        "removed": iso(meter.removed_at, tz),
        "removal_by_operator": meter.removal_by_operator,
    }
    return {**meter_out(app, meter, by_device), "timezone": tz, "service": [span]}


def _slots(register: RegisterDay | None, timezone: str) -> list[dict[str, object]]:
    if register is None:
        return []
    return [{"start": iso(s.start, timezone), "kwh": s.kwh, "flag": s.flag} for s in register.slots]


def meter_day(app: App, meter: Meter, customer: Customer, day: date, now: int) -> MeterDayOut:
    """The meter's ``day`` as the customer's file shows it."""
    found = file_day(
        app.store, app.export_settings, customer, day, now=now, meters=frozenset({meter.id})
    )
    rows = {r.direction: r for r in found.registers() if r.meter == meter.id}
    tz = found.customer.timezone
    reverse = rows.get(Direction.REV)
    return MeterDayOut.model_validate(
        {
            "meter": meter.id,
            "customer": customer.id,
            "date": day,
            "timezone": tz,
            "revision": found.revision.revision if found.revision else None,
            "slots": _slots(rows.get(Direction.FWD), tz),
            "reverse": None if reverse is None else _slots(reverse, tz),
        }
    )


@router.get("/{meter_id}/days/{day}", response_model=MeterDayOut, responses=answers(404, 422))
def get_meter_day(
    meter_id: MeterId,
    day: Day,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    _principal: Principal = READ,
) -> MeterDayOut:
    """The meter's slots of one local day of its customer: exact kWh and flags, as the
    customer's file of that day shows them."""
    meter, customer = meter_or_404(app, meter_id)
    return meter_day(app, meter, customer, checked_day(day), now)


@router.get("/{meter_id}/week/{day}", response_model=MeterWeek, responses=answers(404, 422))
def get_meter_week(
    meter_id: MeterId,
    day: Day,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    _principal: Principal = READ,
) -> MeterWeek:
    """Seven days of the meter from ``day``, each as its file shows it."""
    meter, customer = meter_or_404(app, meter_id)
    first = checked_day(day, days_after=6)
    days = [meter_day(app, meter, customer, first + timedelta(n), now) for n in range(7)]
    return MeterWeek(meter=meter.id, date=first, days=days)
