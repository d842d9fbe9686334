"""``/api/v1/audit``: the audit log of changes, as JSON or CSV, for operators and admins."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from kenshin.domain.operators import Action, AuditEntry
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed, keeping
from kenshin.services.audit import csv_lines, whole_log
from kenshin.services.operators import Keeping

router = APIRouter(prefix="/api/v1", tags=["audit"])

Reader = Annotated[Principal, Depends(allowed(Action.READ_AUDIT))]
Kept = Annotated[Keeping, Depends(keeping)]
Since = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="the first day (UTC) of entries shown"),
]
Before = Annotated[
    int | None,
    Query(ge=1, le=2**63 - 1, description="only entries of a seq below this (to page back)"),
]
LIMIT = 1000
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the log"}
}


class AuditRecord(BaseModel):
    """One change: who, with which role, what to which object, before and after (JSON
    text, empty where none), when (UTC epoch s) and from where."""

    seq: int
    at: int
    who: str
    role: str
    action: str
    kind: str
    key: str
    before: str
    after: str
    source: str


@router.get("/audit", responses=answers())
def audit(
    principal: Reader, kept: Kept, since: Since = None, before: Before = None
) -> list[AuditRecord]:
    """The newest 1000 changes since the day given (all by default) and, with ``before``,
    of a ``seq`` below it; oldest first. To page back, ask again with ``before`` the
    ``seq`` of the oldest entry shown: fewer than 1000 means there are no more."""
    return [_record(e) for e in kept.audit.entries(_epoch(since), LIMIT, before)]


@router.get("/audit.csv", response_class=Response, responses={**answers(), **CSV})
def audit_csv(principal: Reader, kept: Kept, since: Since = None) -> Response:
    """Every change since the day given (all by default), oldest first, as CSV (times in
    UTC ISO 8601; a cell a spreadsheet would take for a formula begins with ``'``)."""
    return StreamingResponse(
        csv_lines(whole_log(kept.audit, _epoch(since))),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _epoch(since: str | None) -> int:
    """The UTC epoch of the day ``since`` (YYYY-MM-DD), 0 for none; 422 for no such day."""
    if since is None:
        return 0
    try:
        day = date.fromisoformat(since)
    except ValueError as exc:
        raise HTTPException(422, f"since: {since} is no day (YYYY-MM-DD)") from exc
    return max(0, int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))


def _record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord.model_validate(entry, from_attributes=True)
