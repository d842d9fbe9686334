"""Login slots: the oldest connection not logged in makes room; a late one is closed."""

from __future__ import annotations

import socket

from kenshin.entrypoints.ftps_slots import LoginSlots


def test_the_oldest_waiting_makes_room_and_the_late_are_closed() -> None:
    now = [0.0]
    slots = LoginSlots(2, 30, clock=lambda: now[0])
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        for key, (server, _client) in enumerate(pairs[:3]):
            slots.admit(key, server)
            now[0] += 1
        for _server, client in pairs:
            client.settimeout(5)
        assert pairs[0][1].recv(10) == b""  # the oldest was closed to make room
        assert len(slots) == 2
        slots.release(1)  # logged in
        slots.admit(3, pairs[3][0])
        now[0] = 32.5  # the connection admitted at 2 waited too long, the one at 3 not
        slots.expire()
        assert pairs[2][1].recv(10) == b""
        assert len(slots) == 1
        pairs[1][0].sendall(b"still open")
        assert pairs[1][1].recv(10) == b"still open"
    finally:
        for a, b in pairs:
            a.close()
            b.close()
