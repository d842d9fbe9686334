"""The devices: their list (last heard, firmware and signal from their status messages,
certificate), revoking their certificates and asking a unit to resend its readings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator

from kenshin.bootstrap import App
from kenshin.domain.devices import DeviceCertificate
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
from kenshin.iot_setup import unit_things
from kenshin.services.device_admin import (
    DeviceAdminError,
    UnknownDevice,
    certificate_state,
    queue_resend,
    revoke_devices,
)
from kenshin.services.things import revoke_things
from kenshin.watch_setup import unit_infos

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
DeviceId = Annotated[str, Path(pattern=DEVICE_PATTERN, description="The device's id")]
CHANGE = Depends(allowed(Action.CHANGE_FLEET))


class DeviceOut(BaseModel):
    """A unit: when last heard (ISO 8601 in its customer's zone; None: never), firmware and
    signal (RSRP, dBm) from its last status message, its certificate's state, whether
    every certificate it had is revoked."""

    id: str
    customer: str
    status: str  # online, silent or never_seen
    last_seen: str | None
    firmware: str | None
    signal: float | None
    certificate: str
    revoked: bool


class Revocation(BaseModel):
    """A device's certificates revoked now, and its certificate's state after."""

    device: str
    revoked: int
    certificate: str


def _text(value: object) -> object:
    """A time as text only: a number is not taken for seconds since 1970."""
    if not isinstance(value, str | datetime):
        # pydantic makes a ValueError (not a TypeError) a 422 saying why
        raise ValueError("a time as YYYY-MM-DDTHH:MM:SS with its UTC offset is expected")  # noqa: TRY004
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_text)]


class ResendAsked(BaseModel):
    """The range a unit is to resend, with times and an offset."""

    since: Moment
    until: Moment


class ResendQueued(BaseModel):
    """The command queued: it goes out when the unit is connected and subscribed."""

    device: str
    command: int


@router.get("", response_model=list[DeviceOut], responses=answers(422))
def list_devices(
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    customer: Annotated[str | None, Query(pattern=CUSTOMER_PATTERN)] = None,
    _principal: Principal = Depends(allowed(Action.READ)),  # noqa: B008 - FastAPI's way
) -> list[DeviceOut]:
    """Every device (of one customer)."""
    held: dict[str, list[DeviceCertificate]] = {}
    for certificate in app.store.certificates.list_certificates():
        held.setdefault(certificate.device, []).append(certificate)
    zones = {c.id: c.timezone for c in app.store.registry.list_customers()}
    alerts = app.settings.alerts
    found = []
    for unit in unit_infos(app.store):
        if customer not in (None, unit.customer):
            continue
        silent_s = alerts.silent_hours_by_customer.get(unit.customer, alerts.silent_hours) * 3600
        heard = unit.last_seen
        certificates = held.get(unit.device, [])
        found.append(
            DeviceOut(
                id=unit.device,
                customer=unit.customer,
                status="never_seen"
                if heard is None
                else ("online" if now - heard <= silent_s else "silent"),
                last_seen=iso(heard, zones.get(unit.customer)),
                firmware=unit.firmware,
                signal=unit.rsrp_dbm,
                certificate=certificate_state(certificates, now),
                revoked=bool(certificates) and all(c.revoked_at for c in certificates),
            )
        )
    return found


@router.post("/{device_id}/revoke", response_model=Revocation, responses=answers(404, 422, 503))
def revoke(
    device_id: DeviceId,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = CHANGE,
) -> Revocation:
    """Revoke every certificate of the device: a unit connected with one is disconnected
    within seconds (on AWS IoT Core too, where it is used, within minutes)."""
    try:
        done = revoke_devices(
            app.store, app.store.audit, actor_of(principal), [device_id], now=now
        )[0]
    except UnknownDevice as exc:
        raise HTTPException(404, str(exc)) from exc
    things = unit_things(app)
    if things is not None:
        _, result = revoke_things(things, [device_id])
        if result.failed is not None:
            raise HTTPException(
                503, f"revoked in kenshin's store; not yet on {things.where}: {result.error}"
            )
    state = certificate_state(done.certificates, now)
    return Revocation(device=device_id, revoked=done.count, certificate=state)


@router.post("/{device_id}/resend", response_model=ResendQueued, responses=answers(404, 422))
def resend(
    device_id: DeviceId,
    asked: ResendAsked,
    app: App = Depends(app_of),  # noqa: B008 - FastAPI's way
    now: int = Depends(now_of),
    principal: Principal = CHANGE,
) -> ResendQueued:
    """Ask the unit to send again its readings from ``since`` to ``until`` (starting 100
    days back at most: a unit holds no older readings)."""
    first, last = _epoch(asked.since), _epoch(asked.until)
    try:
        command = queue_resend(
            app.store, app.store.audit, actor_of(principal), device_id, first, last, now=now
        )
    except UnknownDevice as exc:
        raise HTTPException(404, str(exc)) from exc
    except DeviceAdminError as exc:
        raise HTTPException(422, str(exc)) from exc
    return ResendQueued(device=device_id, command=command)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
