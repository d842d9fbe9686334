"""The units' certificate authority, and where the credentials it issues are handed out.

Enrolling a device (``services.enrolment``) issues its certificate, records it in the
store and only then hands it out: a certificate the store does not know could not be
revoked. ``adapters.pki`` keeps the authority as files in the data folder and hands
credentials out as files in a folder (``adapters.pki_files.CredentialsFolder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class IssuedCertificate(Protocol):
    """A certificate issued to a unit, with its new private key."""

    @property
    def cert_pem(self) -> bytes:
        """The certificate, PEM."""

    @property
    def key_pem(self) -> bytes:
        """Its private key, PEM: a secret of the unit."""

    @property
    def serial(self) -> int:
        """The certificate's serial number: what a revocation names."""

    @property
    def not_after(self) -> int:
        """The last second the certificate is valid (UTC epoch s)."""


class CertificateAuthority(Protocol):
    """Issues the units' client certificates (CN = the device id)."""

    @property
    def cert_pem(self) -> bytes:
        """The authority's certificate, PEM: what units trust the endpoint by."""

    def issue_device(self, device_id: str, valid_days: int, *, now: int) -> IssuedCertificate:
        """A new certificate and key for the unit ``device_id``, valid ``valid_days`` from
        ``now`` (UTC epoch s); a KenshinError if it cannot be issued."""


class CredentialsOut(Protocol):
    """Where issued credentials go for the units' installers (a folder of files)."""

    def found(self, device_ids: Sequence[str]) -> list[str]:
        """The names of the credentials of these devices there already."""

    def other_authority(self, ca_pem: bytes) -> str | None:
        """Where another authority's certificate than ``ca_pem`` is there already, or None."""

    def put_authority(self, ca_pem: bytes) -> None:
        """Hand out the authority's certificate."""

    def put(self, device_id: str, issued: IssuedCertificate) -> None:
        """Hand out the unit's certificate and key (replacing any there)."""
