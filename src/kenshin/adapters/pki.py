"""The units' certificate authority: kenshin's own CA, kept as files in the data folder.

Each unit authenticates to the MQTT/TLS endpoint with a client certificate this CA
issued; the certificate's CN is the device id. The folder (``<data_dir>/pki``, 0700)
holds ``ca.pem`` and ``ca.key``, and ``server.pem`` and ``server.key`` for the
endpoint; keys are written 0600, certificates 0644. Keys are EC P-256, signatures
ECDSA with SHA-256. Revocation is not written into certificates: the store records
it, and the endpoint checks a unit's serial at connect and every few seconds for the
units connected (``entrypoints.mqtt.peer``).
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# PkiError and Credentials are importable from here too: "as" exports them.
from kenshin.adapters.pki_files import (
    PEM,
    device_file_paths,
    key_pem,
    read_pem,
    write_device_files,
    write_file,
)
from kenshin.adapters.pki_files import Credentials as Credentials
from kenshin.adapters.pki_files import PkiError as PkiError
from kenshin.domain.devices import DEVICE_VALID_DAYS, SERVER_VALID_DAYS
from kenshin.domain.model import DEVICE_ID
from kenshin.ports import IssuedCertificate

PKI_FOLDER = "pki"  # inside the data folder
CA_CERT, CA_KEY = "ca.pem", "ca.key"
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"
CA_NAME = "kenshin device CA"
CA_VALID_DAYS = 20 * 365 + 5
# A CRL is valid this long: a broker refuses every client once it has passed, so it is
# written again well before (any run at least halfway through it writes a new one).
CRL_VALID_DAYS = 30
# A name a certificate can hold: dot-separated labels of letters, digits and inner hyphens.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")
DEVICE_URN = "urn:kenshin:device:"  # + the device id: the URI in a unit certificate's SAN
_EARLY = 3600  # certificates start an hour back: a clock a little behind accepts them too
_private_key = partial(serialization.load_pem_private_key, password=None)


class LocalCertificateAuthority:
    """A CA whose certificate and key are files in ``folder``; ``create`` or ``load`` one."""

    def __init__(
        self, folder: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> None:
        self.folder = folder
        self._cert = cert
        self._key = key

    @classmethod
    def create(
        cls, folder: Path, name: str = CA_NAME, *, now: int | None = None
    ) -> LocalCertificateAuthority:
        """Make a new CA in ``folder``: ca.key (0600) and ca.pem; PkiError if one is there."""
        for path in (folder / CA_CERT, folder / CA_KEY):
            if path.exists():
                raise PkiError(
                    f"{path} exists already: a certificate authority is never overwritten, as"
                    " every unit's certificate depends on it; keep it, or move the folder away"
                    " to start a new one (every unit then needs a new certificate)"
                )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = _moment(now)
        cert = (
            _builder(subject, subject, key.public_key(), start, start + timedelta(CA_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signs_certificates=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        write_file(folder / CA_KEY, key_pem(key), 0o600, replace=False)
        write_file(folder / CA_CERT, cert.public_bytes(PEM), 0o644, replace=False)
        return cls(folder, cert, key)

    @classmethod
    def load(cls, folder: Path) -> LocalCertificateAuthority:
        """The CA in ``folder``; PkiError naming the file when one is missing or corrupt."""
        cert_path, key_path = folder / CA_CERT, folder / CA_KEY
        cert = read_pem(cert_path, "a PEM certificate", x509.load_pem_x509_certificate)
        key = read_pem(key_path, "an unencrypted PEM private key", _private_key)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{key_path} is not an EC private key; restore it from a backup")
        if key.public_key() != cert.public_key():
            raise PkiError(
                f"{key_path} is not the key of {cert_path}: restore both from the same backup"
            )
        return cls(folder, cert, key)

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM: what units trust the endpoint by."""
        return self._cert.public_bytes(PEM)

    def export_cert(self, folder: Path) -> Path:
        """Write the CA certificate to ``folder/ca.pem`` (0644); its path."""
        folder.mkdir(parents=True, exist_ok=True)
        write_file(folder / CA_CERT, self.cert_pem, 0o644, replace=True)
        return folder / CA_CERT

    def issue_device(
        self, device_id: str, valid_days: int = DEVICE_VALID_DAYS, *, now: int | None = None
    ) -> Credentials:  # the CertificateAuthority port's
        """A unit's client certificate (CN = ``device_id``, also as SAN URI
        ``urn:kenshin:device:<id>``; clientAuth) and a new key."""
        if not DEVICE_ID.fullmatch(device_id):
            raise PkiError(f"{device_id!r} is not a device id: 1-64 letters, digits or '._:-'")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
        # The id as a URI too: verifiers that read identities from SANs only find it there.
        uri = x509.UniformResourceIdentifier(f"{DEVICE_URN}{device_id}")
        return self._issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, [uri], valid_days, now)

    def issue_server(
        self,
        hostnames: Sequence[str] = (),
        ips: Sequence[str] = (),
        valid_days: int = SERVER_VALID_DAYS,
        *,
        now: int | None = None,
        files: tuple[Path, Path] | None = None,
    ) -> Credentials:
        """The endpoint's certificate (serverAuth) for localhost, 127.0.0.1, ::1 and the
        names and addresses given; written to server.pem and server.key (0600), or to
        ``files`` (certificate, key) for another server (a broker)."""
        addresses = check_names(hostnames, ["127.0.0.1", "::1", *ips])
        names: list[x509.GeneralName] = [
            *(x509.DNSName(h) for h in dict.fromkeys(["localhost", *hostnames])),
            *(x509.IPAddress(a) for a in dict.fromkeys(addresses)),
        ]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kenshin endpoint")])
        issued = self._issue(subject, ExtendedKeyUsageOID.SERVER_AUTH, names, valid_days, now)
        cert_path, key_path = files or (self.folder / SERVER_CERT, self.folder / SERVER_KEY)
        write_file(key_path, issued.key_pem, 0o600, replace=True)
        write_file(cert_path, issued.cert_pem, 0o644, replace=True)
        return issued

    def issue_client(
        self, name: str, valid_days: int = SERVER_VALID_DAYS, *, now: int | None = None
    ) -> Credentials:
        """A client certificate (clientAuth) with CN ``name`` for a service that is not
        a unit (kenshin's workers at a broker), and a new key."""
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return self._issue(subject, ExtendedKeyUsageOID.CLIENT_AUTH, [], valid_days, now)

    def write_crl(self, path: Path, serials: set[int], *, now: int | None = None) -> bool:
        """Write to ``path`` the CRL of ``serials``, signed by this CA, unless the one there
        names the same serials and is valid for more than half its time still: whether it
        was written. A new CRL's lastUpdate is after the previous one's (this waits for
        the next second if need be), as a TLS library holding both uses the newer
        (OpenSSL), and it is valid for CRL_VALID_DAYS."""
        start = _moment(now)
        before = _read_crl(path)
        if before is not None and {r.serial_number for r in before} == serials:
            left = before.next_update_utc - start if before.next_update_utc else timedelta(0)
            if left > timedelta(CRL_VALID_DAYS / 2):
                return False
        if now is None and before is not None and before.last_update_utc == start:
            time.sleep(1.05 - time.time() % 1)  # newer, and not in the future: not yet valid
            start = _moment(None)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._cert.subject)
            .last_update(start)
            .next_update(start + timedelta(CRL_VALID_DAYS))
            .add_extension(x509.CRLNumber(int(start.timestamp())), critical=False)
        )
        for serial in sorted(serials):
            revoked = x509.RevokedCertificateBuilder().serial_number(serial)
            builder = builder.add_revoked_certificate(revoked.revocation_date(start).build())
        crl = builder.sign(self._key, hashes.SHA256())
        write_file(path, crl.public_bytes(PEM), 0o644, replace=True)
        return True

    def ssl_context_for_server(self) -> ssl.SSLContext:
        """The endpoint's TLS context from this CA's folder: see ``server_ssl_context``."""
        return server_ssl_context(self.folder)

    def _issue(
        self,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        names: list[x509.GeneralName],
        valid_days: int,
        now: int | None,
    ) -> Credentials:
        if valid_days < 1:
            raise PkiError(f"a certificate is valid for 1 day or more, not {valid_days}")
        key = ec.generate_private_key(ec.SECP256R1())
        start = _moment(now)
        end = min(start + timedelta(valid_days), self._cert.not_valid_after_utc)
        builder = (
            _builder(subject, self._cert.subject, key.public_key(), start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signs_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Credentials(cert.public_bytes(PEM), key_pem(key))


class CredentialsFolder:
    """Issued credentials handed out as files in ``folder`` (the CredentialsOut port):
    ``<id>.pem`` (0644), ``<id>.key`` (0600) and the authority's ``ca.pem``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def found(self, device_ids: Sequence[str]) -> list[str]:
        """The names of these devices' files in the folder already."""
        paths = (p for i in device_ids for p in device_file_paths(self.folder, i))
        return [p.name for p in paths if p.exists()]

    def other_authority(self, ca_pem: bytes) -> str | None:
        """The path of a ca.pem in the folder that is not ``ca_pem``, or None."""
        path = self.folder / CA_CERT
        return str(path) if path.exists() and path.read_bytes() != ca_pem else None

    def put_authority(self, ca_pem: bytes) -> None:
        """Write ca.pem (the folder is made if need be)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_file(self.folder / CA_CERT, ca_pem, 0o644, replace=True)

    def put(self, device_id: str, issued: IssuedCertificate) -> None:
        """Write the unit's certificate and key, replacing any there."""
        write_device_files(self.folder, device_id, Credentials(issued.cert_pem, issued.key_pem))


def check_names(
    hostnames: Sequence[str], ips: Sequence[str]
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses ``ips`` name; PkiError for a host name or address a certificate
    cannot hold."""
    bad = [h for h in hostnames if not HOSTNAME.fullmatch(h)]
    if bad:
        raise PkiError(f"{bad[0]!r} is not a host name: expected letters, digits, '-' and '.'")
    try:
        return [ipaddress.ip_address(a) for a in ips]
    except ValueError as exc:
        raise PkiError(f"{exc}: expected an IPv4 or IPv6 address") from exc


def server_ssl_context(folder: Path) -> ssl.SSLContext:
    """A server TLS context: TLS 1.2 or newer, a client certificate required and verified
    against ``folder/ca.pem`` only, ``server.pem`` and ``server.key`` presented."""
    ca, cert, key = folder / CA_CERT, folder / SERVER_CERT, folder / SERVER_KEY
    for path in (ca, cert, key):
        if not path.is_file():
            raise PkiError(f"{path} is missing: 'kenshin init' creates the endpoint's TLS files")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # loads no system trust anchors
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    try:
        context.load_verify_locations(cafile=ca)
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise PkiError(
            f"the TLS files in {folder} are corrupt or do not belong together ({exc.reason}):"
            " restore them from a backup"
        ) from exc
    return context


def _read_crl(path: Path) -> x509.CertificateRevocationList | None:
    """The CRL in the file at ``path``; None when there is none or it cannot be read."""
    try:
        return x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError):
        return None


def _moment(now: int | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).replace(microsecond=0)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(seconds=_EARLY))
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )
