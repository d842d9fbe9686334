"""A customer's published files (day files, manifests, change records) with their
revision and when the customer first collected them, a file's bytes, and the revisions
of a day's file."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel

from kenshin.bootstrap import App
from kenshin.domain.file_names import oldest_kept_day
from kenshin.domain.model import FileRevision
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import app_of, checked_day, customer_or_404, iso, now_of
from kenshin.entrypoints.api.customers import CustomerId

router = APIRouter(prefix="/api/v1/customers", tags=["files"])
READ = Depends(allowed(Action.READ))
FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$"


class FileOut(BaseModel):
    """A published file: its size, the revision it is of (None: a file no revision
    names, e.g. a change record) and when the customer first collected it (UTC ISO 8601)."""

    name: str
    revision: int | None
    size: int
    collected_at: str | None


class RevisionOut(BaseModel):
    """A revision of a day's file."""

    revision: int
    status: str
    file_name: str
    rows: int
    slots: int
    actual_slots: int
    estimated_slots: int
    changed_slots: int
    created_at: str
    sha256: str


def _latest_by_name(app: App, customer_id: str, now: int) -> dict[str, FileRevision]:
    """The newest revision of each day file kept, by file name."""
    customer = customer_or_404(app, customer_id)
    oldest = oldest_kept_day(customer, now=now, retention_days=app.settings.export.retention_days)
    found: dict[str, FileRevision] = {}
    day = oldest
    while day <= date.fromtimestamp(now) + timedelta(days=1):
        latest = app.store.revisions.latest_revision(customer_id, day.isoformat())
        if latest is not None:
            found[latest.file_name] = latest
        day += timedelta(days=1)
    return found


@router.get("/{customer_id}/files", response_model=list[FileOut], responses=answers(404, 422))
def list_files(
    customer_id: CustomerId,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    _principal: Principal = READ,
) -> list[FileOut]:
    """The customer's files in the outbox, by name."""
    latest = _latest_by_name(app, customer_id, now)
    files = []
    for name in sorted(app.outbox.list_files(customer_id)):
        content = app.outbox.read(customer_id, name)
        if content is None:
            continue
        revision = latest.get(name)
        collected = (
            app.store.deliveries.first_collected(customer_id, name, revision.revision)
            if revision
            else None
        )
        files.append(
            FileOut(
                name=name,
                revision=revision.revision if revision else None,
                size=len(content),
                collected_at=iso(collected.at) if collected else None,
            )
        )
    return files


@router.get(
    "/{customer_id}/files/{name}",
    response_class=Response,
    responses={
        **answers(404, 422),
        200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"},
    },
)
def download(
    customer_id: CustomerId,
    name: Annotated[str, Path(pattern=FILE_NAME, description="The file's name")],
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = READ,
) -> Response:
    """The file's bytes, as the customer collects them."""
    customer_or_404(app, customer_id)
    content = app.outbox.read(customer_id, name)
    if content is None:
        raise HTTPException(404, f"{customer_id} has no file {name!r}")
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/{customer_id}/revisions", response_model=list[RevisionOut], responses=answers(404, 422)
)
def list_revisions(
    customer_id: CustomerId,
    day: Annotated[date, Query(alias="date", description="The day, YYYY-MM-DD")],
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    _principal: Principal = READ,
) -> list[RevisionOut]:
    """Every revision of the customer's file of the day, oldest first."""
    customer_or_404(app, customer_id)
    found = app.store.revisions.list_revisions(customer_id, checked_day(day).isoformat())
    return [
        RevisionOut(
            revision=r.revision,
            status=r.status,
            file_name=r.file_name,
            rows=r.rows,
            slots=r.slots,
            actual_slots=r.actual_slots,
            estimated_slots=r.estimated_slots,
            changed_slots=r.changed_slots,
            created_at=iso(r.created_at) or "",
            sha256=r.sha256,
        )
        for r in found
    ]
