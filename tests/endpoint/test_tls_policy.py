"""The endpoint offers only what the TLS policy allows: TLS 1.2+, AEAD suites with
forward secrecy (Mozilla's intermediate profile)."""

from __future__ import annotations

import socket
import ssl

import pytest

from kenshin.entrypoints.mqtt.codec import ConnAck, Connect

from .conftest import Site
from .test_security import events, exchange

pytestmark = pytest.mark.integration


def tls12_with(site: Site, ciphers: str) -> ssl.SSLSocket:
    """A TLS 1.2 connection as unit U-1 that offers only ``ciphers``."""
    context = ssl.create_default_context(cafile=str(site.ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    context.load_cert_chain(site.certs / "U-1.pem", site.certs / "U-1.key")
    raw = socket.create_connection(("localhost", site.port), timeout=5)
    site.opened.append(raw)
    conn = context.wrap_socket(raw, server_hostname="localhost")
    site.opened.append(conn)
    return conn


@pytest.mark.parametrize(
    "weak", ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA"]
)
def test_a_unit_offering_only_a_cbc_suite_is_refused(site: Site, weak: str) -> None:
    site.unit("U-1")
    with pytest.raises(ssl.SSLError):
        tls12_with(site, weak)
    assert events(site, "tls_handshake_failed") == 1


@pytest.mark.parametrize("good", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_a_unit_offering_an_aead_suite_connects(site: Site, good: str) -> None:
    site.unit("U-1")
    conn = tls12_with(site, good)
    assert conn.version() == "TLSv1.2"
    assert conn.cipher()[0] == good  # type: ignore[index]
    assert exchange(conn, 4, Connect(4, "U-1"), expect=1) == [ConnAck()]
