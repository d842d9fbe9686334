"""The daily data-quality report of a day as data: its totals, its root-cause lines, and
per customer the meters with problems, the silent units and the files not collected."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.operators import Action
from kenshin.domain.report import CustomerQuality, DailyReport, root_causes
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import CUSTOMER_PATTERN, app_of, checked_day, iso, now_of
from kenshin.errors import ConfigError
from kenshin.services.report import ReportError
from kenshin.watch_setup import alert_channels, report_settings, site_report

router = APIRouter(prefix="/api/v1", tags=["report"])


class TotalsOut(BaseModel):
    """The day's counts over every customer reported (``security_events``: None where
    they are not known)."""

    customers: int
    meters: int
    meters_with_problems: int
    missing: int
    estimated: int
    questionable: int
    silent_units: int
    not_collected: int
    collected_late: int
    security_events: int | None
    dead_letters: int
    unknown_devices: int


class CauseOut(BaseModel):
    """One root-cause line as the report reads, with its likely cause and next step."""

    customer: str
    kind: str
    meters: int
    units: int
    slots: int
    firmware: str | None
    band: str | None
    text: str
    advice: str


class MeterOut(BaseModel):
    """A meter with a problem: its slots missing, estimated and questionable, and the
    slots each rule fired on."""

    meter: str
    device: str
    missing: int
    estimated: int
    questionable: int
    rules: dict[str, int]


class SilentOut(BaseModel):
    """A unit silent at the day's end: when it was last heard (None: never)."""

    device: str
    last_seen: str | None


class FileOut(BaseModel):
    """A final file not collected when due, and when it was collected after all."""

    name: str
    revision: int
    due_at: str
    collected_at: str | None


class CustomerOut(BaseModel):
    """A customer's day."""

    customer: str
    meters: int
    problems: list[MeterOut]
    silent: list[SilentOut]
    not_collected: list[FileOut]


class DeadLettersOut(BaseModel):
    """The day's dead letters of one sender (``registered``: a device kenshin knows)."""

    device: str | None
    count: int
    reason: str
    last_at: str
    registered: bool


class ReportOut(BaseModel):
    """The data-quality report of ``day`` (local in ``timezone``), made at ``made_at``."""

    day: date
    timezone: str
    made_at: str
    totals: TotalsOut
    causes: list[CauseOut]
    customers: list[CustomerOut]
    dead_letters: list[DeadLettersOut]


def _customer(cq: CustomerQuality) -> CustomerOut:
    tz = cq.customer.timezone
    return CustomerOut(
        customer=cq.customer.id,
        meters=cq.meters,
        problems=[
            MeterOut(
                meter=m.meter,
                device=m.device,
                missing=m.missing,
                estimated=m.estimated,
                questionable=m.questionable,
                rules=dict(m.rules),
            )
            for m in sorted(cq.problems, key=lambda m: m.meter)
        ],
        silent=[SilentOut(device=d, last_seen=iso(t, tz)) for d, t in sorted(cq.silent.items())],
        not_collected=[
            FileOut(
                name=f.file_name,
                revision=f.revision,
                due_at=iso(f.due_at, tz) or "",
                collected_at=iso(f.collected_at, tz),
            )
            for f in cq.not_collected
        ],
    )


def _report(found: DailyReport) -> ReportOut:
    t = found.totals()
    return ReportOut(
        day=found.day,
        timezone=found.timezone,
        made_at=iso(found.made_at, found.timezone) or "",
        totals=TotalsOut(
            customers=t.customers,
            meters=t.meters,
            meters_with_problems=t.meters_with_problems,
            missing=t.missing,
            estimated=t.estimated,
            questionable=t.questionable,
            silent_units=t.silent_units,
            not_collected=t.not_collected,
            collected_late=t.collected_late,
            security_events=t.security_events,
            dead_letters=t.dead_letters,
            unknown_devices=t.unknown_devices,
        ),
        causes=[
            CauseOut(
                customer=c.customer,
                kind=c.kind,
                meters=c.meters,
                units=c.units,
                slots=c.slots,
                firmware=c.firmware,
                band=c.band,
                text=c.text(),
                advice=c.advice(),
            )
            for c in root_causes(found)
        ],
        customers=[_customer(cq) for cq in found.customers],
        dead_letters=[
            DeadLettersOut(
                device=d.device,
                count=d.count,
                reason=d.reason,
                last_at=iso(d.last_at, found.timezone) or "",
                registered=d.registered,
            )
            for d in found.dead_letters
        ],
    )


@router.get("/report", response_model=ReportOut, responses=answers(404, 422, 503))
def get_report(
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    day: Annotated[
        date | None, Query(alias="date", description="The local day (default: yesterday)")
    ] = None,
    customer: Annotated[str | None, Query(pattern=CUSTOMER_PATTERN)] = None,
    _principal: Principal = Depends(allowed(Action.READ)),  # noqa: B008 - FastAPI's way
) -> ReportOut:
    """The daily data-quality report of ``date`` (every customer, or one), as
    ``kenshin report`` prints it; made now, so a day not over yet shows it so far."""
    try:
        settings = report_settings(app.settings, alert_channels(app.settings, app.data_dir))
    except ConfigError as exc:
        raise HTTPException(503, f"the report's settings: {exc}") from exc
    day = settings.day_before(now) if day is None else checked_day(day)
    try:
        found = site_report(
            app.store, app.export_settings, settings, day, now=now, customer_id=customer
        )
    except ReportError as exc:
        raise HTTPException(404, str(exc)) from exc
    return _report(found)
