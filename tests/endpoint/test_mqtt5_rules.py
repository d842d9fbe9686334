"""MQTT 5 features the endpoint does not offer are refused with the protocol's reason codes."""

from __future__ import annotations

import pytest

from kenshin.entrypoints.mqtt import tls
from kenshin.entrypoints.mqtt.codec import ConnAck, Connect, Disconnect, Properties, PubAck, Publish

from .conftest import Site
from .test_publish import readings, stored_fwd
from .test_security import connect, exchange

pytestmark = pytest.mark.integration


def test_a_topic_alias_is_refused_as_the_connack_announced_none(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "CLOSE_WAIT_S", 0.2)  # no close_notify comes: stop sooner
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    topic = "dt/kenshin/U-1/readings"
    aliased = Publish(
        topic, readings("U-1", 1, 7), qos=1, packet_id=1, properties=Properties(topic_alias=1)
    )
    assert exchange(conn, 5, aliased) == [Disconnect(0x94)]
    # The alias alone, without the topic: refused the same way.
    conn = connect(site, "U-1", 5)
    alias_only = Publish(
        "", readings("U-1", 2, 8), qos=1, packet_id=2, properties=Properties(topic_alias=1)
    )
    assert exchange(conn, 5, alias_only) == [Disconnect(0x94)]
    assert stored_fwd(site, "M-U-1") == []
    conn = connect(site, "U-1", 5)  # without an alias the same PUBLISH is stored
    plain = Publish(topic, readings("U-1", 3, 9), qos=1, packet_id=3)
    assert exchange(conn, 5, plain, expect=1) == [PubAck(3)]
    assert stored_fwd(site, "M-U-1") == [9]


def test_a_connect_with_an_authentication_method_is_refused(site: Site) -> None:
    site.unit("U-1")
    conn = site.tls("U-1")
    asking = Connect(5, "U-1", properties=Properties(authentication_method="SCRAM-SHA-1"))
    answers = exchange(conn, 5, asking)
    assert [type(a) for a in answers] == [ConnAck]
    assert answers[0].reason_code == 0x8C  # type: ignore[attr-defined]
    assert site.endpoint.connected == []
