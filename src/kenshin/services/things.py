"""The units' things at a cloud broker (AWS IoT Core) kept in step with kenshin's store.

The store is the record of each unit's certificates, issued and revoked: it is changed
first, and the broker after. A certificate issued is registered there and made active;
a revocation makes the unit's certificates there inactive. When the broker fails part
way, what the store holds is whole, and the failure says what is left to do: ``sync``
(``kenshin devices sync-iot``) brings the broker in step with the store again, taking
the certificates issued from the files ``kenshin devices add --out`` wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kenshin.domain.operators import Actor
from kenshin.ports import Certificates
from kenshin.ports.operators import AuditLog
from kenshin.ports.things import Things, ThingsError
from kenshin.services import audit

# A unit's certificate as handed out: its serial and PEM, or None if none is found.
CertificateFile = Callable[[str], tuple[int, bytes] | None]


@dataclass(frozen=True)
class ThingsDone:
    """What was done at the broker: the devices done, in order, and, if it stopped, the
    device it stopped at and why."""

    done: tuple[str, ...]
    failed: str | None = None
    error: str = ""


def enrol_things(things: Things, certificates: Sequence[tuple[str, bytes]]) -> ThingsDone:
    """Enrol each device's certificate (device id, PEM) at the broker, in order, until
    one fails."""
    done: list[str] = []
    for device_id, pem in certificates:
        try:
            things.enrol(device_id, pem)
        except ThingsError as exc:
            return ThingsDone(tuple(done), device_id, str(exc))
        done.append(device_id)
    return ThingsDone(tuple(done))


def revoke_things(things: Things, device_ids: Sequence[str]) -> tuple[dict[str, int], ThingsDone]:
    """Make every active certificate of the devices inactive at the broker, in order, until
    one fails: how many of each, and what was done."""
    counts: dict[str, int] = {}
    for device_id in device_ids:
        try:
            counts[device_id] = things.revoke(device_id)
        except ThingsError as exc:
            return counts, ThingsDone(tuple(counts), device_id, str(exc))
    return counts, ThingsDone(tuple(counts))


@dataclass
class Synced:
    """What ``sync`` did to each device: certificates made inactive, the device enrolled,
    and the devices whose valid certificate is neither at the broker nor found as a file."""

    deactivated: dict[str, int] = field(default_factory=dict)
    enrolled: list[str] = field(default_factory=list)
    unfound: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str = ""


def sync(
    things: Things,
    certificates: Certificates,
    device_ids: Sequence[str],
    found: CertificateFile,
    *,
    by: tuple[AuditLog, Actor],
    now: int,
) -> Synced:
    """Bring each device's certificates at the broker in step with the store, in order,
    until one fails: those not valid in the store (revoked or expired) are made inactive;
    a device with no valid certificate active there is enrolled with the one ``found``
    for it, if the store holds that one valid. Each device changed there is one entry in
    the audit log (by the log and actor ``by``)."""
    synced = Synced()
    for device_id in device_ids:
        valid = {
            c.serial
            for c in certificates.list_certificates(device_id)
            if c.revoked_at is None and c.not_after >= now
        }
        try:
            count, enrolled = _sync_one(things, device_id, valid, found)
        except ThingsError as exc:
            synced.failed, synced.error = device_id, str(exc)
            break
        if count:
            synced.deactivated[device_id] = count
        if enrolled is None:
            synced.unfound.append(device_id)
        elif enrolled:
            synced.enrolled.append(device_id)
        if count or enrolled:
            log, actor = by
            audit.record(
                log,
                actor,
                action="devices.sync_iot",
                kind="device",
                key=device_id,
                after={"where": things.where, "made_inactive": count, "enrolled": bool(enrolled)},
                clock=lambda: now,
            )
    return synced


def _sync_one(
    things: Things, device_id: str, valid: set[int], found: CertificateFile
) -> tuple[int, bool | None]:
    """Sync one device: how many certificates were made inactive, and whether it was
    enrolled (None: it should have been, but no file of its valid certificate is found)."""
    count = things.revoke(device_id, keep=valid)
    if not valid or valid & things.active_serials(device_id):
        return count, False
    held = found(device_id)
    if held is None or held[0] not in valid:
        return count, None
    things.enrol(device_id, held[1])
    return count, True
