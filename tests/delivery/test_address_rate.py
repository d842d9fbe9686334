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


def test_ipv6_addresses_of_one_64_share_a_bucket() -> None:
    now = [0.0]
    rate = AddressRate(4, clock=lambda: now[0])
    assert [rate.admit("2001:db8:1:2::1") for _ in range(2)] == [True] * 2
    assert [rate.admit("2001:db8:1:2:ffff::7") for _ in range(3)] == [True] * 2 + [False]
    assert rate.admit("2001:db8:1:3::1")  # another /64


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address() -> None:
    rate = AddressRate(2, clock=lambda: 0.0)
    assert rate.admit("192.0.2.9")
    assert rate.admit("::ffff:192.0.2.9")
    assert not rate.admit("192.0.2.9")


def test_many_other_addresses_never_refill_a_spent_bucket() -> None:
    now = [0.0]
    rate = AddressRate(30, clock=lambda: now[0])
    assert [rate.admit("192.0.2.1") for _ in range(31)] == [True] * 30 + [False]
    for i in range(20_000):
        rate.admit(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert not rate.admit("192.0.2.1")  # still spent, not forgotten
    now[0] += 61  # every bucket full again: the kept ones make room for new ones
    assert rate.admit("198.51.100.1")
    assert [rate.admit("192.0.2.1") for _ in range(31)] == [True] * 30 + [False]
