"""Each way a TLS handshake fails is its own kind of security event."""

from __future__ import annotations

import ssl

import pytest

from kenshin.entrypoints.mqtt.handshakes import handshake_failure


def ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] ({reason.lower()})")
    error.reason = reason
    return error


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (TimeoutError(), "tls_handshake_timeout"),
        (ssl_error("PEER_DID_NOT_RETURN_A_CERTIFICATE"), "tls_no_certificate"),
        (ssl_error("UNSUPPORTED_PROTOCOL"), "tls_version_refused"),
        (ssl_error("WRONG_VERSION_NUMBER"), "tls_not_tls"),
        (ssl_error("HTTP_REQUEST"), "tls_not_tls"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "tls_handshake_abandoned"),
        (ConnectionResetError(104, "Connection reset by peer"), "tls_handshake_abandoned"),
        (ssl_error("SOMETHING_NEW"), "tls_handshake_failed"),
    ],
)
def test_a_failed_handshake_is_named_by_its_cause(failure: BaseException, kind: str) -> None:
    assert handshake_failure(failure)[0] == kind


def test_a_refused_certificate_says_why() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    error.verify_message = "certificate has expired"
    assert handshake_failure(error) == (
        "tls_certificate_refused",
        "client certificate: certificate has expired",
    )
