"""A device added through the admin API, and its credentials handed out once.

The unit's certificate, its private key and the authority's certificate are made into
a zip archive (the files ``kenshin devices add --out`` writes: ``<id>.pem``, ``<id>.key``,
``ca.pem``) kept in this process's memory only, never on disk or in the store, under a
ticket of 256 random bits: it can be had once, by whoever added the device, within
``BUNDLE_TTL_S``; then it is dropped. A ticket taken or expired is remembered (by its
hash, without the bundle) for ``GONE_KEPT_S``, so that asking again says it is gone.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from kenshin.domain.operators import Actor
from kenshin.errors import KenshinError
from kenshin.ports import CertificateAuthority, IssuedCertificate
from kenshin.ports.operators import AuditLog
from kenshin.services.enrolment import Enrolment, EnrolmentPorts, Issue, enrol

BUNDLE_TTL_S = 15 * 60  # a bundle not taken within this is dropped
GONE_KEPT_S = 24 * 3600  # a ticket taken or expired answers "gone" this long
CA_NAME = "ca.pem"


class BundleGone(KenshinError):
    """The bundle was taken already, or not taken in time."""


class UnknownBundle(KenshinError):
    """No bundle has this ticket (for this device and principal)."""


class ZipCredentials:
    """Issued credentials handed out as the files of a zip archive, in memory (the
    CredentialsOut port): nothing is ever found there before."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def found(self, device_ids: Sequence[str]) -> list[str]:
        """None: the archive is new."""
        del device_ids
        return []

    def other_authority(self, ca_pem: bytes) -> str | None:
        """None: the archive holds no other authority's certificate."""
        del ca_pem
        return None

    def put_authority(self, ca_pem: bytes) -> None:
        """Put ca.pem in the archive."""
        self.files[CA_NAME] = ca_pem

    def put(self, device_id: str, issued: IssuedCertificate) -> None:
        """Put the unit's certificate and key in the archive."""
        self.files[f"{device_id}.pem"] = issued.cert_pem
        self.files[f"{device_id}.key"] = issued.key_pem

    def archive(self) -> bytes:
        """The zip archive of the files (the key with mode 0600, the rest 0644)."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files.items():
                info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                mode = 0o600 if name.endswith(".key") else 0o644
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return out.getvalue()


@dataclass(frozen=True)
class _Held:
    device: str
    owner: str
    data: bytes | None  # None: taken or expired
    until: int  # the bundle is dropped then; a gone ticket is forgotten then


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class BundleShelf:
    """The bundles waiting to be taken, in this process's memory, by ticket hash."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def put(self, device: str, owner: str, data: bytes, *, now: int) -> tuple[str, int]:
        """Keep ``data`` for ``owner`` to take once: its ticket, and when it is dropped."""
        ticket = secrets.token_urlsafe(32)
        with self._lock:
            self._prune(now)
            self._held[_hash(ticket)] = _Held(device, owner, data, now + BUNDLE_TTL_S)
        return ticket, now + BUNDLE_TTL_S

    def take(self, device: str, owner: str, ticket: str, *, now: int) -> bytes:
        """The bundle of ``ticket``, dropped as it is handed out; UnknownBundle if no
        bundle of ``device`` for ``owner`` has it, BundleGone if it was taken or expired."""
        key = _hash(ticket)
        with self._lock:
            self._prune(now)
            held = self._held.get(key)
            if held is None or held.device != device or held.owner != owner:
                raise UnknownBundle(f"no bundle of {device} has this ticket")
            if held.data is None:
                raise BundleGone(f"the bundle of {device} was taken already, or expired")
            self._held[key] = _Held(device, owner, None, now + GONE_KEPT_S)
            return held.data

    def _prune(self, now: int) -> None:
        """Drop the bundles not taken in time (their tickets are gone), forget old tickets."""
        for key, held in list(self._held.items()):
            if held.until > now:
                continue
            if held.data is None:
                del self._held[key]
            else:
                self._held[key] = _Held(held.device, held.owner, None, now + GONE_KEPT_S)


@dataclass(frozen=True)
class Added:
    """A device added (or given a new certificate) and its bundle's ticket."""

    enrolment: Enrolment
    ticket: str
    bundle_until: int


@dataclass(frozen=True)
class Adding:
    """What adding a device through the API uses: the store, the audit log, who asks,
    the units' authority, the shelf its bundle waits on and whom it waits for (``owner``:
    unique to who asks, an operator's name or a token's id)."""

    store: EnrolmentPorts
    log: AuditLog
    actor: Actor
    authority: CertificateAuthority
    shelf: BundleShelf
    owner: str


def add_device(adding: Adding, customer: str, device_id: str, *, now: int) -> Added:
    """Add ``device_id`` to ``customer`` (one it has already gets a new certificate, as
    ``kenshin devices add --out`` does) and issue its certificate; the bundle waits on the
    shelf for its owner. EnrolmentError, before anything changes, as ``enrol`` says."""
    out = ZipCredentials()
    enrolment = enrol(
        adding.store,
        customer,
        [device_id],
        now=now,
        issue=Issue(adding.authority, out),
        by=(adding.log, adding.actor),
    )
    ticket, until = adding.shelf.put(device_id, adding.owner, out.archive(), now=now)
    return Added(enrolment, ticket, until)
