"""The SFTP server's SSH host key: made once, kept, so that clients can pin it."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from kenshin.adapters.pki_files import write_file

log = logging.getLogger(__name__)


def ensure_host_key(path: Path) -> bool:
    """Create an Ed25519 host key at ``path`` (0600, folder 0700) unless one is there;
    whether one was made. A key found is never replaced: clients know it."""
    if path.exists():
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    write_file(path, pem, 0o600, replace=False)
    log.info("created the SFTP host key %s", path)
    return True


def host_key_fingerprint(path: Path) -> str:
    """The host key's SHA256 fingerprint as OpenSSH prints it."""
    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    blob = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    raw = base64.b64decode(blob.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
