"""The change records of a customer's day: which slots each new revision of the day's
file changed, from what to what and why, as the records in the outbox say."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.changes import CHANGE_LABELS, change_record_name
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import app_of, checked_day, customer_or_404
from kenshin.entrypoints.api.customers import CustomerId

router = APIRouter(prefix="/api/v1/customers", tags=["files"])
READ = Depends(allowed(Action.READ))


class SlotChangeOut(BaseModel):
    """A slot a revision changed: its local start (ISO 8601), the meter and direction as
    the file writes them, the kWh text and the quality flag before and after (None: the
    meter was not in the file), and why."""

    slot: str
    meter: str
    direction: str
    before: str | None
    after: str | None
    before_flag: str | None
    after_flag: str | None
    reason: str


class ChangeRecordOut(BaseModel):
    """A revision of the day's file that changed slots of the one before: its change
    record's name, where to download it (None: it is no longer in the outbox), and its
    rows."""

    revision: int
    name: str
    download: str | None
    changes: list[SlotChangeOut]


class DayChanges(BaseModel):
    """The change records of a customer's day, oldest revision first."""

    customer: str
    date: date
    records: list[ChangeRecordOut]


@router.get("/{customer_id}/changes", response_model=DayChanges, responses=answers(404, 422))
def day_changes(
    customer_id: CustomerId,
    day: Annotated[date, Query(alias="date", description="The day, YYYY-MM-DD")],
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = READ,
) -> DayChanges:
    """The change record of each revision of the customer's file of the day that changed
    slots, with its rows (each a slot) and the download of the record's file."""
    customer_or_404(app, customer_id)
    revisions = app.store.revisions.list_revisions(customer_id, checked_day(day).isoformat())
    records = []
    for revision in revisions:
        if not revision.changed_slots:
            continue
        name = change_record_name(revision.file_name, revision.revision)
        content = app.outbox.read(customer_id, name)
        download = f"/api/v1/customers/{customer_id}/files/{quote(name)}"
        records.append(
            ChangeRecordOut(
                revision=revision.revision,
                name=name,
                download=download if content is not None else None,
                changes=_rows(content) if content is not None else [],
            )
        )
    return DayChanges(customer=customer_id, date=day, records=records)


def _rows(content: bytes) -> list[SlotChangeOut]:
    """The rows of a change record's CSV text."""
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    rows = []
    for line in reader:
        cells = {label: line.get(label) or None for label in CHANGE_LABELS}
        rows.append(
            SlotChangeOut(
                slot=cells["slot_start"] or "",
                meter=cells["meter"] or "",
                direction=cells["direction"] or "",
                before=cells["previous_kwh"],
                after=cells["kwh"],
                before_flag=cells["previous_quality"],
                after_flag=cells["quality"],
                reason=cells["reason"] or "",
            )
        )
    return rows
