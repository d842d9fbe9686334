"""What a failed TLS handshake says: the security event kind and a detail for the log.

OpenSSL names each failure by a reason; these are the ones a unit (or something
that is not a unit) causes. Anything else is ``tls_handshake_failed`` with
OpenSSL's own words.
"""

from __future__ import annotations

import ssl

from kenshin.services.security import (
    TLS_CERTIFICATE_REFUSED,
    TLS_HANDSHAKE_ABANDONED,
    TLS_HANDSHAKE_FAILED,
    TLS_HANDSHAKE_TIMEOUT,
    TLS_NO_CERTIFICATE,
    TLS_NOT_TLS,
    TLS_VERSION_REFUSED,
)

_BY_REASON = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": TLS_NO_CERTIFICATE,
    "CERTIFICATE_VERIFY_FAILED": TLS_CERTIFICATE_REFUSED,
    "UNSUPPORTED_PROTOCOL": TLS_VERSION_REFUSED,
    "NO_PROTOCOLS_AVAILABLE": TLS_VERSION_REFUSED,
    "VERSION_TOO_LOW": TLS_VERSION_REFUSED,
    "TLSV1_ALERT_PROTOCOL_VERSION": TLS_VERSION_REFUSED,
    "WRONG_VERSION_NUMBER": TLS_NOT_TLS,
    "HTTP_REQUEST": TLS_NOT_TLS,
    "HTTPS_PROXY_REQUEST": TLS_NOT_TLS,
    "UNKNOWN_PROTOCOL": TLS_NOT_TLS,
    "PACKET_LENGTH_TOO_LONG": TLS_NOT_TLS,
    "RECORD_LAYER_FAILURE": TLS_NOT_TLS,
    "UNEXPECTED_EOF_WHILE_READING": TLS_HANDSHAKE_ABANDONED,
}


def handshake_failure(exc: BaseException) -> tuple[str, str]:
    """The security event kind of a handshake that raised ``exc``, and its detail."""
    if isinstance(exc, TimeoutError):
        return TLS_HANDSHAKE_TIMEOUT, "no TLS handshake within the connect timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLS_CERTIFICATE_REFUSED, f"client certificate: {exc.verify_message}"
    if isinstance(exc, ssl.SSLEOFError):
        return TLS_HANDSHAKE_ABANDONED, "closed during the TLS handshake"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        return _BY_REASON.get(reason, TLS_HANDSHAKE_FAILED), f"TLS handshake: {reason or exc}"
    return TLS_HANDSHAKE_ABANDONED, f"closed during the TLS handshake ({exc})"
