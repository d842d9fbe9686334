"""What the alert channels share: TLS that verifies the server, secrets read from files."""

from __future__ import annotations

import ssl
from pathlib import Path

from kenshin.errors import ConfigError


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server: the system's CAs, or ``ca_file``'s."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def read_secret(data_dir: Path, relative: str, key: str) -> str:
    """The secret in the file ``relative`` to ``data_dir``; ConfigError naming ``key``
    and the path when it cannot be read or is empty."""
    path = data_dir / relative
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc}") from exc
    if not text:
        raise ConfigError(f"{key}: {path} is empty")
    return text


def ca_path(data_dir: Path, ca_file: str) -> str | None:
    """The configured CA file relative to ``data_dir``; None: the system's CAs."""
    return str(data_dir / ca_file) if ca_file else None
