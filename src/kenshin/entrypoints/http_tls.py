"""Whether the HTTP side speaks TLS, and the refusal to serve the console in the clear
beyond this machine: a password and a session cookie must never cross a network
unencrypted."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from kenshin.config import HttpConfig
from kenshin.errors import ConfigError

FIX = (
    'set http.tls_certificate and http.tls_key (e.g. "pki/server.pem" and "pki/server.key",'
    ' the endpoint\'s certificate), or http.host = "127.0.0.1"'
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: 127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_files(http: HttpConfig, data_dir: Path) -> tuple[Path, Path] | None:
    """The certificate chain and key the HTTP side presents, or None for plain HTTP;
    ConfigError naming the setting and the fix for half a pair, missing files, or the
    console beyond this machine without TLS."""
    if bool(http.tls_certificate) != bool(http.tls_key):
        raise ConfigError("http.tls_certificate, http.tls_key: set both, or neither")
    if not http.tls_certificate:
        if http.enabled and http.console and not is_loopback(http.host):
            raise ConfigError(
                f"http.host: the console would listen on {http.host}, beyond this machine,"
                f" without TLS: {FIX}"
            )
        return None
    files = (data_dir / http.tls_certificate, data_dir / http.tls_key)
    try:
        server_context(files)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"http.tls_certificate, http.tls_key: {files[0]} and {files[1]} are not a"
            f" readable PEM certificate chain and its key ({exc})"
        ) from exc
    return files


def server_context(files: tuple[Path, Path]) -> ssl.SSLContext:
    """A server context presenting ``files``, TLS 1.2 or later."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(*files)
    return context
