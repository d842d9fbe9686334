"""Adding a device: its certificate issued, and its credentials downloaded once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from kenshin.bootstrap import App
from kenshin.domain.operators import Action
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed
from kenshin.entrypoints.api.common import (
    CUSTOMER_PATTERN,
    DEVICE_PATTERN,
    actor_of,
    app_of,
    iso,
    now_of,
)
from kenshin.entrypoints.api.context import ApiContext, context_of
from kenshin.entrypoints.api.devices import DeviceId
from kenshin.errors import KenshinError
from kenshin.iot_setup import unit_things
from kenshin.services.device_bundles import (
    Adding,
    BundleGone,
    UnknownBundle,
    add_device,
)
from kenshin.services.enrolment import DevicesTaken, UnknownCustomer
from kenshin.services.things import enrol_things

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
CHANGE = Depends(allowed(Action.CHANGE_FLEET))
TICKET = r"^[A-Za-z0-9_-]{20,100}$"


class DeviceToAdd(BaseModel):
    """A device to add to a customer."""

    id: str = Field(pattern=DEVICE_PATTERN)
    customer: str = Field(pattern=CUSTOMER_PATTERN)


class DeviceAdded(BaseModel):
    """The device added, its certificate's last valid moment (UTC ISO 8601), and where
    its credentials can be downloaded once, until ``bundle_expires_at`` (UTC ISO 8601),
    by whoever added it; ``iot_core``: what went wrong registering the certificate on
    AWS IoT Core, where it is used (None: nothing)."""

    id: str
    customer: str
    certificate_until: str
    bundle_url: str
    bundle_expires_at: str
    iot_core: str | None = None


@router.post(
    "",
    response_model=DeviceAdded,
    status_code=201,
    responses=answers(
        409,
        422,
        503,
        said={
            409: "The device belongs to another customer",
            503: "The units' certificate authority cannot be read",
        },
    ),
)
def add(
    asked: DeviceToAdd,
    context: ApiContext = Depends(context_of),  # noqa: B008 - FastAPI's way
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = CHANGE,
) -> DeviceAdded:
    """Add a device to a customer (one it has already is given a new certificate, as
    ``kenshin devices add --out`` does) and issue its certificate. Its credentials (its
    certificate, its private key and the authority's certificate, as a zip archive) are
    kept in the server's memory only, never on disk: they can be downloaded once at
    ``bundle_url``, by whoever added the device, within 15 minutes."""
    try:
        authority = app.certificate_authority()
    except KenshinError as exc:
        raise HTTPException(503, str(exc)) from exc
    adding = Adding(
        app.store, app.store.audit, actor_of(principal), authority, context.bundles, principal.owner
    )
    try:
        added = add_device(adding, asked.customer, asked.id, now=now)
    except UnknownCustomer as exc:
        raise HTTPException(422, str(exc)) from exc
    except DevicesTaken as exc:
        raise HTTPException(409, str(exc)) from exc
    things = unit_things(app)
    problem = None
    if things is not None:
        done = enrol_things(things, added.enrolment.certificates)
        if done.failed is not None:
            problem = f"not yet active on {things.where}: {done.error}"
    return DeviceAdded(
        id=asked.id,
        customer=asked.customer,
        certificate_until=iso(added.enrolment.not_after) or "",
        bundle_url=f"/api/v1/devices/{asked.id}/bundle?ticket={added.ticket}",
        bundle_expires_at=iso(added.bundle_until) or "",
        iot_core=problem,
    )


@router.get(
    "/{device_id}/bundle",
    response_class=Response,
    responses={
        **answers(
            404,
            410,
            422,
            said={
                404: "No bundle of this device has this ticket for this operator",
                410: "The bundle was downloaded already, or not in time",
            },
        ),
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A zip archive: ID.pem, ID.key and ca.pem",
        },
    },
)
def bundle(
    device_id: DeviceId,
    ticket: Annotated[str, Query(pattern=TICKET, description="The ticket of bundle_url")],
    context: ApiContext = Depends(context_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = CHANGE,
) -> Response:
    """The device's credentials, once, to whoever added it: a zip archive of its
    certificate (``ID.pem``), its private key (``ID.key``) and the authority's certificate
    (``ca.pem``), the files ``kenshin devices add --out`` writes. 410 after."""
    try:
        data = context.bundles.take(device_id, principal.owner, ticket, now=now)
    except UnknownBundle as exc:
        raise HTTPException(404, str(exc)) from exc
    except BundleGone as exc:
        raise HTTPException(410, str(exc)) from exc
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{device_id}.zip"',
            "Cache-Control": "no-store",
        },
    )
