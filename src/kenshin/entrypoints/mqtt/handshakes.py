"""What a failed TLS handshake says: the security event kind and a detail for the log.

OpenSSL names each failure by a reason; these are the ones a unit (or something
that is not a unit) causes. Anything else is ``tls_handshake_failed`` with
OpenSSL's own words.
"""

from __future__ import annotations

import ssl

from kenshin.domain.security_kinds import SecurityEventKind

_BY_REASON = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": SecurityEventKind.TLS_NO_CERTIFICATE,
    "CERTIFICATE_VERIFY_FAILED": SecurityEventKind.TLS_CERTIFICATE_REFUSED,
    "UNSUPPORTED_PROTOCOL": SecurityEventKind.TLS_VERSION_REFUSED,
    "NO_PROTOCOLS_AVAILABLE": SecurityEventKind.TLS_VERSION_REFUSED,
    "VERSION_TOO_LOW": SecurityEventKind.TLS_VERSION_REFUSED,
    "TLSV1_ALERT_PROTOCOL_VERSION": SecurityEventKind.TLS_VERSION_REFUSED,
    "WRONG_VERSION_NUMBER": SecurityEventKind.TLS_NOT_TLS,
    "HTTP_REQUEST": SecurityEventKind.TLS_NOT_TLS,
    "HTTPS_PROXY_REQUEST": SecurityEventKind.TLS_NOT_TLS,
    "UNKNOWN_PROTOCOL": SecurityEventKind.TLS_NOT_TLS,
    "PACKET_LENGTH_TOO_LONG": SecurityEventKind.TLS_NOT_TLS,
    "RECORD_LAYER_FAILURE": SecurityEventKind.TLS_NOT_TLS,
    "UNEXPECTED_EOF_WHILE_READING": SecurityEventKind.TLS_HANDSHAKE_ABANDONED,
}


def handshake_failure(exc: BaseException) -> tuple[SecurityEventKind, str]:
    """The security event kind of a handshake that raised ``exc``, and its detail."""
    if isinstance(exc, TimeoutError):
        return (
            SecurityEventKind.TLS_HANDSHAKE_TIMEOUT,
            "no TLS handshake within the connect timeout",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            SecurityEventKind.TLS_CERTIFICATE_REFUSED,
            f"client certificate: {exc.verify_message}",
        )
    if isinstance(exc, ssl.SSLEOFError):
        return SecurityEventKind.TLS_HANDSHAKE_ABANDONED, "closed during the TLS handshake"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        return _BY_REASON.get(
            reason, SecurityEventKind.TLS_HANDSHAKE_FAILED
        ), f"TLS handshake: {reason or exc}"
    return SecurityEventKind.TLS_HANDSHAKE_ABANDONED, f"closed during the TLS handshake ({exc})"
