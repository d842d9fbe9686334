"""New connections per address: a burst, then the rate; other addresses untouched."""

from __future__ import annotations

from kenshin.entrypoints.address_rate import AddressRate


def test_a_burst_then_one_connection_per_share_of_a_minute() -> None:
    now = [0.0]
    rate = AddressRate(6, clock=lambda: now[0])
    assert [rate.admit("192.0.2.1") for _ in range(8)] == [True] * 6 + [False] * 2
    assert rate.admit("192.0.2.2")
    now[0] += 9.9
    assert not rate.admit("192.0.2.1")
    now[0] += 0.2  # 10 s: one more token
    assert rate.admit("192.0.2.1")
    assert not rate.admit("192.0.2.1")
    now[0] += 3600
    assert [rate.admit("192.0.2.1") for _ in range(7)] == [True] * 6 + [False]
