"""A connection must CONNECT by a deadline from its accept, and only a few may be still
connecting at once from one address or with one certificate."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from kenshin.entrypoints.mqtt.codec import ConnAck, Connect, encode
from kenshin.entrypoints.mqtt.server import EndpointSettings

from .conftest import Site
from .test_security import connect, events, exchange

pytestmark = pytest.mark.integration

DEADLINE_S = 2
T = TypeVar("T")


@pytest.fixture
def endpoint_settings() -> EndpointSettings:
    return EndpointSettings(
        "127.0.0.1",
        0,
        connect_timeout_s=DEADLINE_S,
        revocation_check_s=0.5,
        connecting_per_address=3,
        connecting_per_certificate=2,
    )


def is_open(conn: socket.socket, wait: float = 0.3) -> bool:
    """Whether the endpoint keeps ``conn`` open (nothing comes within ``wait``)."""
    conn.settimeout(wait)
    try:
        return conn.recv(100) != b""
    except TimeoutError:
        return True
    except (ConnectionError, ssl.SSLError):
        return False


def eventually(attempt: Callable[[], T | None], within: float = 5.0) -> T:
    """What ``attempt`` gives once it gives something (it is tried again until then)."""
    deadline = time.monotonic() + within
    while (found := attempt()) is None:
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)
    return found


def kept(site: Site) -> socket.socket | None:
    """A new TCP connection, if the endpoint keeps it open."""
    conn = socket.create_connection(("127.0.0.1", site.port), timeout=5)
    site.opened.append(conn)
    return conn if is_open(conn) else None


def connected(site: Site, device: str) -> ssl.SSLSocket | None:
    """A connection of ``device`` with its CONNECT accepted, if the endpoint takes it."""
    try:
        return connect(site, device, 4)
    except (IndexError, ssl.SSLError, ConnectionError):
        return None


def test_a_connect_trickled_byte_by_byte_is_closed_at_the_deadline(site: Site) -> None:
    site.unit("U-1")
    accepted = time.monotonic()
    conn = site.tls("U-1")
    packet = encode(Connect(4, "U-1", keep_alive=60), 4)
    trickle = [bytes([b]) for b in packet[:-1]]  # a byte every 0.3 s: never the whole CONNECT
    while time.monotonic() - accepted < 4 * DEADLINE_S:
        try:
            if trickle:
                conn.sendall(trickle.pop(0))
        except (ConnectionError, ssl.SSLError):
            break
        if not is_open(conn):
            break
    closed_after = time.monotonic() - accepted
    assert DEADLINE_S - 0.5 < closed_after < DEADLINE_S + 1.0
    assert events(site, "connect_timeout") == 1
    assert site.endpoint.connected == []


def test_a_unit_connecting_in_time_is_served_after_the_deadline(site: Site) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 4)
    time.sleep(DEADLINE_S + 0.5)  # past the deadline, the behaviour under test: CONNECT's only
    assert is_open(conn)
    assert site.endpoint.connected == ["U-1"]


def test_connections_from_one_address_beyond_the_limit_are_closed(site: Site) -> None:
    silent = [socket.create_connection(("127.0.0.1", site.port), timeout=5) for _ in range(5)]
    site.opened += silent
    assert [is_open(c) for c in silent] == [True, True, True, False, False]
    assert events(site, "connections_limited", 2) == 2
    silent[0].close()  # one goes: room for one more
    eventually(lambda: kept(site))
    for conn in site.opened:
        conn.close()
    # Connected units do not count: three connect, and three more may still be connecting.
    for device in ("U-1", "U-2", "U-3"):
        site.unit(device)
        eventually(lambda d=device: connected(site, d))  # type: ignore[misc]
    waiting = [socket.create_connection(("127.0.0.1", site.port), timeout=5) for _ in range(3)]
    site.opened += waiting
    assert all(is_open(c) for c in waiting)
    assert site.endpoint.connected == ["U-1", "U-2", "U-3"]


def test_connections_with_one_certificate_beyond_the_limit_are_closed(site: Site) -> None:
    site.unit("U-1")
    first, second, third = (site.tls("U-1") for _ in range(3))
    assert [is_open(c) for c in (first, second, third)] == [True, True, False]
    assert events(site, "connections_limited") == 1
    # Once one has connected it counts no more: another may handshake.
    assert exchange(first, 4, Connect(4, "U-1"), expect=1) == [ConnAck()]
    assert is_open(site.tls("U-1"))
