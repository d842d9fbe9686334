"""TLS of the FTPS server (pyOpenSSL, as pyftpdlib wants it).

The policy of every TLS server of kenshin (``entrypoints.tls_policy``), applied to
a pyOpenSSL context: Mozilla's "intermediate" profile, TLS 1.2 or newer; for TLS
1.2 only AEAD suites with forward secrecy (ECDHE, AES-GCM or ChaCha20-Poly1305: no
CBC, no SHA-1 MAC, no static RSA key exchange), TLS 1.3 with OpenSSL's suites (all
AEAD); no compression, no renegotiation.

A data connection must resume the TLS session of its control connection (as
vsftpd's ``require_ssl_reuse``): otherwise anyone who can reach the passive port
from the customer's address (behind the same NAT) could connect first and take the
file. Each control connection gets a TLS context of its own, so its session cache
and its session-ticket keys are its own: the only sessions a data connection can
resume are those of its control connection.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL
from OpenSSL._util import lib as openssl
from pyftpdlib.handlers import TLS_DTPHandler
from pyftpdlib.log import logger as pyftpdlib_log

from kenshin.entrypoints.tls_policy import TLS12_CIPHERS
from kenshin.errors import ConfigError


class FtpsTls:
    """The server's certificate chain and key, read once; a fresh context for each
    control connection."""

    def __init__(self, certificate: Path, key: Path) -> None:
        """ConfigError if the files cannot be read or do not belong together."""
        try:
            self._chain = x509.load_pem_x509_certificates(certificate.read_bytes())
            self._key = load_pem_private_key(key.read_bytes(), password=None)
            self.context()
        except (OSError, ValueError, TypeError, SSL.Error) as exc:
            raise ConfigError(
                f"ftps.certificate, ftps.key: {certificate} and {key} are not a PEM"
                f" certificate chain and its key ({exc})"
            ) from exc

    def context(self) -> SSL.Context:
        """A server context of the profile, with session caches of its own."""
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
        context.set_cipher_list(TLS12_CIPHERS.encode())
        context.set_session_id(secrets.token_bytes(16))
        context.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
        context.use_certificate(self._chain[0])
        for certificate in self._chain[1:]:
            context.add_extra_chain_cert(certificate)
        context.use_privatekey(self._key)  # type: ignore[arg-type]  # a key type TLS knows
        context.check_privatekey()
        return context


def resumed(connection: SSL.Connection) -> bool:
    """Whether the handshake of ``connection`` resumed an earlier session."""
    # pyOpenSSL has no public call for it; its own binding of OpenSSL's has.
    return bool(openssl.SSL_session_reused(connection._ssl))


class SessionBoundDataHandler(TLS_DTPHandler):  # type: ignore[misc]  # no type hints
    """A data connection that must resume its control connection's TLS session."""

    _session_checked = False

    def handle_ssl_established(self) -> None:
        """Refuse the connection unless its handshake resumed the session."""
        if resumed(self.socket):
            self._session_checked = True
            return
        reply = "522 TLS session reuse required: resume the control connection's session."
        self._resp = (reply, pyftpdlib_log.info)
        self.close()

    def send(self, data: bytes) -> int:
        """Send nothing before the handshake is done and its session checked: TLS 1.3
        lets a server write before the client's last handshake message."""
        if self._ssl_requested and not self._session_checked:
            return 0
        sent: int = super().send(data)
        return sent
