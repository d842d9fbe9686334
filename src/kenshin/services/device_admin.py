"""Changing devices by an operator, at the command line or through the admin API: revoke
their certificates, ask a unit to resend its readings, give one to another customer;
each change in the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from kenshin.domain.commands import RESEND, resend_payload
from kenshin.domain.devices import DeviceCertificate
from kenshin.domain.operators import Actor
from kenshin.errors import KenshinError
from kenshin.ports import Certificates, CommandQueue, Registry
from kenshin.ports.operators import AuditLog
from kenshin.services import audit

FUTURE_SLACK_S = 300  # a resend may end this far ahead of the clock
# A resend may start this many days back at most: a meter keeps its 30-minute history
# of today and the 99 days before (ECHONET Lite E2/E4), so a unit holds no older reading.
RESEND_DAYS = 100
DAY_S = 86_400


class DeviceAdminError(KenshinError):
    """A change refused before anything changed; the text says why."""


class UnknownDevice(DeviceAdminError):
    """No such device."""


class DevicePorts(Protocol):
    """What changing a device uses. A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers and devices."""

    @property
    def certificates(self) -> Certificates:
        """The devices' certificates."""

    @property
    def commands(self) -> CommandQueue:
        """The commands queued for devices."""


@dataclass(frozen=True)
class Revoked:
    """A device's certificates revoked now (``count``), and all it has."""

    device: str
    count: int
    certificates: list[DeviceCertificate]


def revoke_devices(
    store: DevicePorts, log: AuditLog, actor: Actor, device_ids: Sequence[str], *, now: int
) -> list[Revoked]:
    """Revoke every certificate of each device (UnknownDevice, before anything changes,
    for an id the registry lacks); each device's revocation is one audit entry."""
    ids = list(dict.fromkeys(device_ids))
    unknown = [i for i in ids if store.registry.get_device(i) is None]
    if unknown:
        raise UnknownDevice(f"no device {unknown[0]!r}")
    done = []
    for device_id in ids:
        before = certificate_state(store.certificates.list_certificates(device_id), now)
        count = store.certificates.revoke_device(device_id, now)
        held = store.certificates.list_certificates(device_id)
        audit.record(
            log,
            actor,
            action="devices.revoke",
            kind="device",
            key=device_id,
            before={"certificate": before},
            after={"certificate": certificate_state(held, now), "revoked": count},
            clock=lambda: now,
        )
        done.append(Revoked(device_id, count, held))
    return done


def queue_resend(
    store: DevicePorts,
    log: AuditLog,
    actor: Actor,
    device_id: str,
    first: int,
    last: int,
    *,
    now: int,
) -> int:
    """Queue the command asking ``device_id`` to resend its readings from ``first`` to
    ``last`` (UTC epoch s); the command's id. DeviceAdminError for an unknown device, an
    empty range, one that ends in the future or starts more than ``RESEND_DAYS`` ago."""
    if store.registry.get_device(device_id) is None:
        raise UnknownDevice(f"no device {device_id!r}")
    check_resend_range(first, last, now=now)
    command_id = store.commands.add_command(
        device_id, RESEND, lambda i: resend_payload(i, first, last), now
    )
    audit.record(
        log,
        actor,
        action="devices.resend",
        kind="device",
        key=device_id,
        after={"command": command_id, "from": _iso(first), "to": _iso(last)},
        clock=lambda: now,
    )
    return command_id


def check_resend_range(first: int, last: int, *, now: int) -> None:
    """DeviceAdminError, saying why, unless a unit may be asked to resend its readings
    from ``first`` to ``last`` (UTC epoch s) at ``now``."""
    if first >= last:
        raise DeviceAdminError("the range is empty: its start must be before its end")
    if last > now + FUTURE_SLACK_S:
        raise DeviceAdminError("the range ends in the future: a unit has no readings of it yet")
    earliest = now - RESEND_DAYS * DAY_S
    if first < earliest:
        raise DeviceAdminError(
            f"the range starts before {_iso(earliest)}: a unit holds its readings of the last"
            f" {RESEND_DAYS} days at most"
        )


def move_device(
    registry: Registry, by: tuple[AuditLog, Actor], device_id: str, customer: str, *, now: int
) -> str:
    """Give device ``device_id`` (and its meters) to ``customer`` (UnknownDevice, or
    DeviceAdminError for an unknown customer); the customer it had. One audit entry if
    it changed hands."""
    device = registry.get_device(device_id)
    if device is None:
        raise UnknownDevice(f"no device {device_id!r}")
    if registry.get_customer(customer) is None:
        raise DeviceAdminError(f"no customer {customer!r}")
    if device.customer != customer:
        registry.move_device(device_id, customer)
        log, actor = by
        audit.record(
            log,
            actor,
            action="devices.move",
            kind="device",
            key=device_id,
            before={"customer": device.customer},
            after={"customer": customer},
            clock=lambda: now,
        )
    return device.customer


def certificate_state(certificates: Sequence[DeviceCertificate], now: int) -> str:
    """What a device's certificates allow at ``now``: the latest a valid one ends, else the
    latest revocation, else the latest expiry, else none."""
    valid = [c.not_after for c in certificates if c.revoked_at is None and c.not_after >= now]
    if valid:
        return f"valid until {_day(max(valid))}"
    revoked = [c.revoked_at for c in certificates if c.revoked_at is not None]
    if revoked:
        return f"revoked {_day(max(revoked))}"
    if certificates:
        return f"expired {_day(max(c.not_after for c in certificates))}"
    return "none"


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()
