"""Every unit that is not what it claims, or asks for what is not its own, is refused.

Each case ends with nothing stored, and the refusal counted as a security event.
"""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest
from cryptography import x509

from conftest import wait_for
from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.entrypoints.mqtt import tls
from kenshin.entrypoints.mqtt.codec import (
    ConnAck,
    Connect,
    Disconnect,
    PacketReader,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    encode,
)

from .conftest import Site
from .test_publish import readings, stored_fwd

pytestmark = pytest.mark.integration


def exchange(
    conn: ssl.SSLSocket, level: int, *packets: object, expect: int | None = None
) -> list[object]:
    """Send ``packets``; what the endpoint answers: ``expect`` packets, or all until it
    closes the connection (or is quiet for a while)."""
    for packet in packets:
        conn.sendall(encode(packet, level))  # type: ignore[arg-type]
    reader = PacketReader(1 << 20, server_side=False, protocol_level=level)
    answers: list[object] = []
    conn.settimeout(3)
    try:
        while (expect is None or len(answers) < expect) and (data := conn.recv(65536)):
            answers += reader.feed(data)
    except (TimeoutError, ConnectionError, ssl.SSLError):
        pass
    return answers


def closed(conn: ssl.SSLSocket, within: float = 5.0) -> bool:
    conn.settimeout(within)
    try:
        while conn.recv(65536):
            pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        return True
    return True


def connect(site: Site, device: str, level: int = 5, client_id: str | None = None) -> ssl.SSLSocket:
    conn = site.tls(device)
    answers = exchange(conn, level, Connect(level, client_id or device, keep_alive=30), expect=1)
    assert isinstance(answers[0], ConnAck)
    assert answers[0].reason_code == 0
    return conn


def refused(site: Site, device: str | None) -> bool:
    """True if the endpoint refuses a TLS connection as ``device``: in the handshake, or
    with an alert or a close right after it (TLS 1.3 checks the client's certificate then)."""
    try:
        conn = site.tls(device)
        conn.sendall(encode(Connect(5, device or "U-1"), 5))
        return conn.recv(100) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def events(site: Site, kind: str, expected: int = 1) -> int:
    """The count of security events ``kind`` once it reaches ``expected`` (or after 5 s):
    the endpoint records a failed handshake once its side of it has ended."""
    deadline = time.monotonic() + 5
    while site.security.counts[kind] < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return site.security.counts[kind]


def test_no_client_certificate_is_refused_in_the_handshake(site: Site) -> None:
    site.unit("U-1")
    assert refused(site, None)
    assert events(site, "tls_no_certificate") == 1
    assert not refused(site, "U-1")  # the same endpoint admits a unit with its certificate


def test_a_certificate_of_another_ca_is_refused(site: Site) -> None:
    other = LocalCertificateAuthority.create(site.folder / "other-ca")
    site.unit("U-1", authority=other)
    assert refused(site, "U-1")
    assert events(site, "tls_certificate_refused") == 1


def test_an_expired_certificate_is_refused(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.unit("U-1", valid_days=1, issued=int(time.time()) - 3 * 86_400)
    assert refused(site, "U-1")
    assert events(site, "tls_certificate_refused") == 1
    assert "certificate has expired" in caplog.text


def test_plain_tcp_and_tls_1_1_are_refused(site: Site) -> None:
    site.unit("U-1")
    with socket.create_connection(("localhost", site.port), timeout=5) as plain:
        plain.sendall(encode(Connect(4, "U-1"), 4))
        answer = plain.recv(100)
        assert not answer.startswith(b"\x20")  # never a CONNACK: at most a TLS alert
    assert events(site, "tls_not_tls") == 1
    with pytest.raises(ssl.SSLError):
        site.tls("U-1", version=ssl.TLSVersion.TLSv1_1)
    assert events(site, "tls_version_refused") == 1


def test_a_connection_still_in_its_handshake_is_closed_when_the_endpoint_stops(
    site: Site,
) -> None:
    with socket.create_connection(("localhost", site.port), timeout=5) as silent:
        # A moment to be accepted (the endpoint then waits for its ClientHello): nothing
        # outside the endpoint tells a connection accepted from one still in the backlog.
        time.sleep(0.1)
        site.call(site.endpoint.stop())
        assert silent.recv(100) == b""  # closed, not left open until it times out
    assert sum(site.security.counts.values()) == 0  # stopping is no attack


def test_a_revoked_certificate_is_refused_after_the_handshake(site: Site) -> None:
    site.unit("U-1")
    site.store.certificates.revoke_device("U-1", int(time.time()))
    conn = site.tls("U-1")
    assert exchange(conn, 5, Connect(5, "U-1")) == []
    assert site.security.counts["certificate_refused"] == 1


def test_revoking_a_connected_unit_closes_its_connection(site: Site) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1")
    site.store.certificates.revoke_device("U-1", int(time.time()))
    # The endpoint checks every 0.5 s in these tests; it says why, then closes.
    assert exchange(conn, 5) == [Disconnect(0x87)]
    assert site.security.counts["revoked_while_connected"] == 1


@pytest.mark.parametrize("level", [4, 5])
def test_client_id_must_be_the_certificates(site: Site, level: int) -> None:
    site.unit("U-1")
    site.unit("U-2")
    conn = site.tls("U-1")
    answers = exchange(conn, level, Connect(level, "U-2"))
    assert [type(a) for a in answers] == [ConnAck]
    assert answers[0].reason_code == 0x85  # type: ignore[attr-defined]
    assert site.security.counts["client_id_mismatch"] == 1


def test_publishing_as_another_unit_is_refused_and_nothing_is_stored(site: Site) -> None:
    site.unit("U-1")
    site.unit("U-2")
    conn = connect(site, "U-1", 5)
    topic = "dt/kenshin/U-2/readings"
    answers = exchange(conn, 5, Publish(topic, readings("U-2", 1, 9), qos=1, packet_id=7), expect=1)
    assert answers == [PubAck(7, 0x87)]
    conn.close()
    conn4 = connect(site, "U-1", 4)
    conn4.sendall(encode(Publish(topic, readings("U-2", 2, 9), qos=1, packet_id=8), 4))
    assert closed(conn4)
    assert stored_fwd(site, "M-U-2") == []
    assert site.security.counts["topic_refused"] == 2


def test_a_payload_naming_another_device_is_not_a_reading(site: Site) -> None:
    site.unit("U-1")
    site.unit("U-2")
    conn = connect(site, "U-1", 5)
    own_topic = "dt/kenshin/U-1/readings"
    answers = exchange(
        conn, 5, Publish(own_topic, readings("U-2", 1, 9), qos=1, packet_id=3), expect=1
    )
    assert answers == [PubAck(3)]  # handled: kept as a dead letter, not stored as a reading
    assert stored_fwd(site, "M-U-2") == []
    [letter] = site.store.dead_letters.list_dead_letters()
    assert "names device 'U-2' but was sent by 'U-1'" in letter.reason
    assert site.security.counts["payload_names_another_device"] == 1


@pytest.mark.parametrize("wanted", ["#", "dt/#", "cmd/kenshin/U-2/#", "cmd/kenshin/+/resend"])
def test_subscribing_outside_its_own_commands_is_refused(site: Site, wanted: str) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    subscribe = Subscribe(5, (Subscription("cmd/kenshin/U-1/#", 1), Subscription(wanted, 1)))
    assert exchange(conn, 5, subscribe, expect=1) == [SubAck(5, (1, 0x87))]
    conn4 = connect(site, "U-1", 4)
    refused = exchange(conn4, 4, Subscribe(6, (Subscription(wanted, 0),)), expect=1)
    assert refused == [SubAck(6, (0x80,))]


def test_qos2_is_refused(site: Site) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    publish = Publish("dt/kenshin/U-1/readings", readings("U-1", 1, 5), qos=2, packet_id=1)
    assert exchange(conn, 5, publish) == [Disconnect(0x9B)]
    assert stored_fwd(site, "M-U-1") == []


def test_an_oversized_packet_is_refused_before_its_body_is_read(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "CLOSE_WAIT_S", 0.2)  # no close_notify comes: stop sooner
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    # A PUBLISH header announcing 200 MB: refused on the header alone.
    conn.sendall(bytes([0x32, 0x80, 0x80, 0x80, 0x60]))
    assert exchange(conn, 5) == [Disconnect(0x95)]
    conn = connect(site, "U-1", 5)
    big = Publish("dt/kenshin/U-1/readings", b"x" * (128 * 1024 + 1), qos=1, packet_id=2)
    assert exchange(conn, 5, big) == [Disconnect(0x95)]
    assert stored_fwd(site, "M-U-1") == []


def test_garbage_before_connect_is_refused(site: Site) -> None:
    site.unit("U-1")
    conn = site.tls("U-1")
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed(conn)
    conn = site.tls("U-1")
    conn.sendall(json.dumps({"v": 1}).encode())
    assert closed(conn)
    assert site.store.dead_letters.count_dead_letters() == 0


def test_a_resumed_tls_session_does_not_outlive_its_certificate(site: Site) -> None:
    site.unit("U-1", valid_days=1, issued=int(time.time()) - 86_400 + 3)  # 3 s left
    context = ssl.create_default_context(cafile=str(site.ca))
    context.load_cert_chain(site.certs / "U-1.pem", site.certs / "U-1.key")

    def connect_as_unit(session: ssl.SSLSession | None) -> ssl.SSLSocket:
        raw = socket.create_connection(("localhost", site.port), timeout=5)
        conn = context.wrap_socket(raw, server_hostname="localhost", session=session)
        site.opened.append(conn)
        return conn

    first = connect_as_unit(None)
    assert exchange(first, 4, Connect(4, "U-1"), expect=1)[0] == ConnAck()
    again = connect_as_unit(first.session)  # a TLS 1.3 ticket: while valid, it resumes
    assert again.session_reused
    assert exchange(again, 4, Connect(4, "U-1"), expect=1)[0] == ConnAck()
    # OpenSSL reads the real clock: wait until the certificate has ended.
    ended = x509.load_pem_x509_certificate((site.certs / "U-1.pem").read_bytes())
    end = ended.not_valid_after_utc.timestamp()
    wait_for("the certificate's end", lambda: time.time() > end + 0.5, timeout_s=10)
    late = connect_as_unit(again.session)
    assert late.session_reused  # OpenSSL took the ticket; the endpoint still refuses
    assert exchange(late, 4, Connect(4, "U-1")) == []
    assert events(site, "tls_certificate_refused") == 1
