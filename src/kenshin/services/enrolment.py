"""Enrolling devices: adding them to a customer, and issuing their certificates.

A device belongs to one customer: adding it to another is refused (``kenshin devices
move`` moves it). Each certificate issued is recorded in the store before it is handed
out: a certificate the store does not know could not be revoked. Credentials already
handed out are not replaced unless asked, and nothing changes when they are in the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kenshin.domain.devices import DEVICE_VALID_DAYS
from kenshin.domain.model import Device
from kenshin.domain.operators import Actor
from kenshin.errors import KenshinError, NotFoundError
from kenshin.ports import (
    CertificateAuthority,
    Certificates,
    CredentialsOut,
    IssuedCertificate,
    Registry,
)
from kenshin.ports.operators import AuditLog
from kenshin.services import audit


class EnrolmentError(KenshinError):
    """Devices cannot be enrolled as asked; nothing was changed."""


class UnknownCustomer(EnrolmentError, NotFoundError):
    """The customer the devices are to belong to does not exist."""


class DevicesTaken(EnrolmentError):
    """Devices asked for belong to another customer already."""


class CredentialsInTheWay(EnrolmentError):
    """Handing out the credentials would replace others found where they go: ``found``,
    the names of the devices' credentials there; ``other``, where another authority's
    certificate is."""

    def __init__(self, message: str, found: Sequence[str] = (), other: str | None = None) -> None:
        super().__init__(message)
        self.found = list(found)
        self.other = other


@dataclass(frozen=True)
class Enrolment:
    """What enrolling did: the devices added, those the customer had already and, when
    certificates were issued, how many, the last second they are valid (UTC epoch s) and
    each (device id, certificate PEM)."""

    customer: str
    added: tuple[str, ...]
    already: int
    issued: int = 0
    not_after: int | None = None
    certificates: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Issue:
    """Certificates to issue: by ``authority``, handed out to ``out``, valid ``valid_days``;
    ``replace`` lets them replace credentials of the same devices found there."""

    authority: CertificateAuthority
    out: CredentialsOut
    valid_days: int = DEVICE_VALID_DAYS
    replace: bool = False


class EnrolmentPorts(Protocol):
    """What an enrolment changes: the registry's devices and their certificates. A
    ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers and devices."""

    @property
    def certificates(self) -> Certificates:
        """The certificates issued to devices."""


def enrol(
    store: EnrolmentPorts,
    customer: str,
    device_ids: Sequence[str],
    *,
    now: int,
    issue: Issue | None = None,
    by: tuple[AuditLog, Actor] | None = None,
) -> Enrolment:
    """Add ``device_ids`` to ``customer`` (those it has already are skipped) and, with
    ``issue``, give each a new certificate. An EnrolmentError, before anything changes,
    if the customer is unknown, a device is another's or credentials are in the way."""
    ids = list(dict.fromkeys(device_ids))
    if issue is not None:
        check_out(issue, ids)
    added = add_devices(store.registry, customer, ids)
    enrolment = Enrolment(customer, tuple(added), len(ids) - len(added))
    if issue is not None:
        issued = issue_certificates(store.certificates, issue, ids, now=now)
        not_after = issued[-1][1].not_after if issued else now
        pems = tuple((device_id, certificate.cert_pem) for device_id, certificate in issued)
        enrolment = Enrolment(
            customer, tuple(added), len(ids) - len(added), len(ids), not_after, pems
        )
    if by is not None:
        _record(enrolment, ids, by, now)
    return enrolment


def _record(enrolment: Enrolment, ids: Sequence[str], by: tuple[AuditLog, Actor], now: int) -> None:
    """One audit entry per device added, or given a certificate."""
    log, actor = by
    issued = {device_id for device_id, _ in enrolment.certificates}
    for device_id in ids:
        if device_id not in enrolment.added and device_id not in issued:
            continue
        after: dict[str, object] = {"customer": enrolment.customer}
        if device_id in issued:
            after["certificate_until"] = enrolment.not_after
        audit.record(
            log,
            actor,
            action="devices.add",
            kind="device",
            key=device_id,
            after=after,
            clock=lambda: now,
        )


def add_devices(registry: Registry, customer: str, device_ids: Sequence[str]) -> list[str]:
    """Add the ids the registry does not know to ``customer``: those added. The ids it has
    already must be the customer's: DevicesTaken otherwise, and nothing is added."""
    if registry.get_customer(customer) is None:
        raise UnknownCustomer(f"no customer {customer!r}; add it with 'kenshin customers add'")
    known = {d.id: d for d in registry.list_devices()}
    taken = [i for i in device_ids if i in known and known[i].customer != customer]
    if taken:
        owners = ", ".join(f"{i} ({known[i].customer})" for i in taken[:5])
        raise DevicesTaken(f"devices belong to another customer already: {owners}")
    new = [i for i in dict.fromkeys(device_ids) if i not in known]
    for device_id in new:
        registry.add_device(Device(device_id, customer))
    return new


def check_out(issue: Issue, device_ids: Sequence[str]) -> None:
    """CredentialsInTheWay if handing out the devices' credentials would replace those of
    the same devices or another authority's certificate, unless ``issue.replace``."""
    if issue.replace:
        return
    found = issue.out.found(device_ids)
    if found:
        names = ", ".join(found[:6])
        raise CredentialsInTheWay(f"files of these devices are there already: {names}", found)
    other = issue.out.other_authority(issue.authority.cert_pem)
    if other is not None:
        raise CredentialsInTheWay(f"{other} is another certificate authority's", other=other)


def issue_certificates(
    certificates: Certificates, issue: Issue, device_ids: Sequence[str], *, now: int
) -> list[tuple[str, IssuedCertificate]]:
    """Issue each device a certificate, record it, then hand it out (with the authority's
    certificate): each device id with its certificate."""
    issue.out.put_authority(issue.authority.cert_pem)
    done = []
    for device_id in device_ids:
        issued = issue.authority.issue_device(device_id, issue.valid_days, now=now)
        # Recorded first: a certificate the store does not know could not be revoked.
        certificates.add_certificate(device_id, issued.serial, issued.not_after, now)
        issue.out.put(device_id, issued)
        done.append((device_id, issued))
    return done
