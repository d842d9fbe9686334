"""Why a meter's slot shows what it shows (``kenshin explain`` as JSON)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.energy import format_kwh
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import app_of, checked_day, iso, now_of
from kenshin.entrypoints.api.meters import MeterId, meter_or_404
from kenshin.services.explain import ExplainError, SlotExplanation, explain_slot

router = APIRouter(prefix="/api/v1/meters", tags=["meters"])
SLOT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}([+-]\d{2}:\d{2})?$"


class RawReading(BaseModel):
    """A register reading near the slot: when (local ISO 8601) and the register steps."""

    t: str
    fwd: int | None
    rev: int | None


class SlotRowOut(BaseModel):
    """A register's slot in the file: kWh (None: no value), flag, and the rules that fired."""

    direction: str
    kwh: str | None
    flag: str
    reasons: list[str]


class RevisionOut(BaseModel):
    """A published revision of the slot's day file."""

    revision: int
    status: str
    file_name: str
    created_at: str
    estimated_slots: int


class Explanation(BaseModel):
    """A slot explained: the raw readings within an hour of it, its rows in the file (none
    when the meter was out of service all day) and the revisions of its day."""

    meter: str
    device: str
    customer: str
    timezone: str
    start: str
    end: str
    in_service: bool
    readings: list[RawReading]
    rows: list[SlotRowOut]
    revisions: list[RevisionOut]


@router.get("/{meter_id}/explain", response_model=Explanation, responses=answers(404, 422))
def explain(
    meter_id: MeterId,
    slot: Annotated[
        str,
        Query(
            pattern=SLOT_PATTERN,
            description="The slot's local start, YYYY-MM-DDTHH:MM (with its offset,"
            " +HH:MM, for an hour that repeats when the clocks go back)",
        ),
    ],
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    _principal: Principal = Depends(allowed(Action.READ)),  # noqa: B008 - FastAPI's way
) -> Explanation:
    """Why the meter's slot shows what it shows."""
    meter_or_404(app, meter_id)
    try:
        day = checked_day(date.fromisoformat(slot[:10]))
    except ValueError as exc:
        raise HTTPException(422, f"{slot!r}: no such day") from exc
    try:
        found = explain_slot(app.store, app.export_settings, meter_id, day, slot[11:], now=now)
    except ExplainError as exc:
        raise HTTPException(422, str(exc)) from exc
    return explanation(found)


def explanation(found: SlotExplanation) -> Explanation:
    """The explanation as the API answers it."""
    tz = found.customer.timezone
    return Explanation.model_validate(
        {
            "meter": found.meter.id,
            "device": found.meter.device,
            "customer": found.customer.id,
            "timezone": tz,
            "start": iso(found.start, tz),
            "end": iso(found.start + 1800, tz),
            "in_service": found.in_service,
            "readings": [{"t": iso(r.t, tz), "fwd": r.fwd, "rev": r.rev} for r in found.readings],
            "rows": [
                {
                    "direction": r.direction.value,
                    "kwh": None if r.value is None else format_kwh(r.value),
                    "flag": r.flag,
                    "reasons": r.reasons,
                }
                for r in found.rows
            ],
            "revisions": [
                {
                    "revision": r.revision,
                    "status": r.status,
                    "file_name": r.file_name,
                    "created_at": iso(r.created_at),
                    "estimated_slots": r.estimated_slots,
                }
                for r in found.revisions
            ],
        }
    )
