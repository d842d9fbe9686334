"""Login slots: a few per address, the busiest address's oldest connection not logged
in makes room (never an address's only one), and a late one is closed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from kenshin.entrypoints.ftps_slots import LoginSlots

pytestmark = pytest.mark.integration


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made = [socket.socketpair() for _ in range(20)]
    for _server, client in made:
        client.settimeout(5)
    yield made
    for a, b in made:
        a.close()
        b.close()


def is_open(pair: tuple[socket.socket, socket.socket]) -> bool:
    pair[0].sendall(b"x")
    return pair[1].recv(10) == b"x"


def test_the_busiest_address_makes_room_and_the_late_are_closed(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    now = [0.0]
    slots = LoginSlots(3, 30, clock=lambda: now[0], per_address=3)
    for key, address in enumerate(["192.0.2.1", "198.51.100.1", "198.51.100.1", "192.0.2.2"]):
        assert slots.admit(key, address, pairs[key][0])
        now[0] += 1
    assert pairs[1][1].recv(10) == b""  # the busiest address's oldest made room
    assert len(slots) == 3
    slots.release(2)  # logged in
    assert slots.admit(4, "192.0.2.3", pairs[4][0])
    now[0] = 30.5  # the connection admitted at 0 waited too long, the others not
    slots.expire()
    assert pairs[0][1].recv(10) == b""
    assert len(slots) == 2
    assert is_open(pairs[3])
    assert is_open(pairs[4])


def test_a_flood_never_closes_a_customer_logging_in(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    slots = LoginSlots(5, 30, clock=lambda: 0.0, per_address=3)
    assert slots.admit(0, "192.0.2.1", pairs[0][0])  # the customer
    # Many addresses of one /64: three wait at most, the others are refused.
    admitted = [slots.admit(key, f"2001:db8:1:2::{key}", pairs[key][0]) for key in range(1, 10)]
    assert admitted == [True] * 3 + [False] * 6
    # Other addresses make the /64 give up its waiting ones but its last...
    assert [slots.admit(key, f"203.0.113.{key}", pairs[key][0]) for key in range(10, 14)] == [
        True
    ] * 3 + [False]  # ...and when every address has one, the new one is refused
    assert len(slots) == 5
    assert is_open(pairs[0])
    assert is_open(pairs[3])  # the /64's last waiting one
    assert pairs[1][1].recv(10) == b""
