"""What the endpoint reads from a unit's verified TLS peer certificate, and the
revocations it looks for while units are connected.

The certificate's one CN is the device id; the store records each certificate's serial
and its revocation. The endpoint checks a unit's serial at connect (``admitted_device``)
and every few seconds for the units connected (``RevocationPoller``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cryptography import x509
from cryptography.x509.oid import NameOID

from kenshin.domain.model import DEVICE_ID

OVERLAP_S = 120  # a revocation's time is taken before it is committed, maybe by another process


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from its DER or PEM bytes; ValueError if they are neither."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def device_id_of(peer_cert_der: bytes) -> str | None:
    """The device id a certificate names (its one CN), or None if it names none."""
    try:
        names = load_certificate(peer_cert_der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    if len(names) != 1 or not isinstance(names[0].value, str):
        return None
    return names[0].value if DEVICE_ID.fullmatch(names[0].value) else None


def serial_of(cert: bytes) -> int:
    """The serial number of a certificate, DER or PEM; ValueError if it is neither."""
    return load_certificate(cert).serial_number


def expired(cert: bytes, now: float) -> bool:
    """Whether the certificate (DER or PEM) has ended at ``now``."""
    return load_certificate(cert).not_valid_after_utc.timestamp() <= now


def admitted_device(peer_cert_der: bytes | None, is_revoked: Callable[[int], bool]) -> str | None:
    """The device a verified peer certificate names, or None: no certificate, no device id
    as CN, or a revoked serial. What the endpoint asks once a handshake is done."""
    if not peer_cert_der:
        return None
    device = device_id_of(peer_cert_der)
    if device is None or is_revoked(serial_of(peer_cert_der)):
        return None
    return device


class RevocationPoller:
    """Serials revoked since the previous look, from ``revoked_serials(since)`` (a Store's):
    the endpoint polls every mqtt.revocation_check_s and closes the sessions among them."""

    def __init__(
        self,
        revoked_serials: Callable[[int | None], set[int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = revoked_serials
        self._clock = clock
        self._since: int | None = None

    def poll(self) -> set[int]:
        """Serials revoked since the previous poll (a few seen twice), every one at first."""
        now = int(self._clock())
        found = self._source(self._since)
        self._since = now - OVERLAP_S
        return found
