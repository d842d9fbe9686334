"""Connections still connecting count by address as logins do: IPv6 by its /64."""

from __future__ import annotations

from kenshin.entrypoints.mqtt.admission import Admission


def test_ipv6_addresses_of_one_64_share_the_limit() -> None:
    admission = Admission(per_address=2, per_certificate=10)
    first = admission.enter("2001:db8:1:2::1:40001")
    assert first is not None
    assert admission.enter("2001:db8:1:2:ffff::9:40002") is not None
    assert admission.enter("2001:db8:1:2::77:40003") is None
    assert admission.enter("2001:db8:1:3::1:40004") is not None  # another /64
    first.release()
    assert admission.enter("2001:db8:1:2::77:40005") is not None


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address() -> None:
    admission = Admission(per_address=1, per_certificate=10)
    assert admission.enter("192.0.2.9:40001") is not None
    assert admission.enter("::ffff:192.0.2.9:40002") is None
