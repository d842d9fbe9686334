"""Keys and certificates as PEM bytes and as files, for the units' certificate authority.

A key or certificate file is written with its mode whatever the umask (keys 0600,
certificates 0644) and flushed to disk: a new one is created exclusively, never
over a file found there; a replaced one is written beside it and renamed, so
that it is never seen half-written. A file read back that is missing or corrupt
raises PkiError saying what to restore.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kenshin.errors import KenshinError

PEM = serialization.Encoding.PEM
_T = TypeVar("_T")


class PkiError(KenshinError):
    """A certificate authority file is missing, corrupt or would be overwritten."""


class Credentials(NamedTuple):
    """An issued certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def serial(self) -> int:
        """The certificate's serial number."""
        return load_certificate(self.cert_pem).serial_number

    @property
    def not_after(self) -> int:
        """The last second the certificate is valid (UTC epoch s)."""
        return int(load_certificate(self.cert_pem).not_valid_after_utc.timestamp())


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from its DER or PEM bytes; ValueError if they are neither."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def certificate_end(path: Path) -> int | None:
    """The last second the certificate in the file at ``path`` is valid (UTC epoch s);
    None when there is no such file or it holds no certificate."""
    try:
        return int(load_certificate(path.read_bytes()).not_valid_after_utc.timestamp())
    except (OSError, ValueError):
        return None


def certificate_names(path: Path) -> tuple[list[str], list[str]]:
    """The host names and the addresses the certificate at ``path`` is for; none when
    there is no such file or it holds no certificate."""
    try:
        cert = load_certificate(path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return [], []
    addresses = [str(a) for a in names.get_values_for_type(x509.IPAddress)]
    return names.get_values_for_type(x509.DNSName), addresses


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM: what a unit or the endpoint loads."""
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def read_pem(path: Path, what: str, parse: Callable[[bytes], _T]) -> _T:
    """``parse`` of the file at ``path``; PkiError naming the file, as ``what`` it should
    be, when it is missing or ``parse`` refuses it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise PkiError(
            f"{path} is missing: the units' certificate authority is made by 'kenshin init';"
            f" restore {path.parent} from a backup"
        ) from exc
    try:
        return parse(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"{path} is not {what} ({exc}); restore it from a backup") from exc


def write_file(path: Path, data: bytes, mode: int, *, replace: bool) -> None:
    """Write ``data`` with ``mode`` whatever the umask; a replaced file is never half-written."""
    target = path.with_name(f".{path.name}.tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    with os.fdopen(os.open(target, flags, mode), "wb") as file:
        os.fchmod(file.fileno(), mode)  # an old temporary file may have had another mode
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    if replace:
        target.replace(path)


def write_device_files(folder: Path, device_id: str, credentials: Credentials) -> None:
    """Write a unit's ``<id>.pem`` (0644) and ``<id>.key`` (0600) into ``folder``."""
    cert_path, key_path = device_file_paths(folder, device_id)
    write_file(key_path, credentials.key_pem, 0o600, replace=True)
    write_file(cert_path, credentials.cert_pem, 0o644, replace=True)


def device_file_paths(folder: Path, device_id: str) -> tuple[Path, Path]:
    """Where a unit's certificate and key go in ``folder``: ``<id>.pem``, ``<id>.key``."""
    return folder / f"{device_id}.pem", folder / f"{device_id}.key"
