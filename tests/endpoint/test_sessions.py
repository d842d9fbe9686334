"""Sessions as units live them: other clients, take-over, keep-alive, in-order acks."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from kenshin.entrypoints.mqtt.codec import (
    ConnAck,
    Connect,
    Disconnect,
    PingReq,
    PingResp,
    PubAck,
    Publish,
)

from .conftest import Site
from .test_publish import readings, stored_fwd
from .test_security import connect, exchange

pytestmark = pytest.mark.integration

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None, reason="Debian's mosquitto-clients is not installed"
)


def mosquitto_pub(
    site: Site, version: str, topic: str, payload: bytes
) -> subprocess.CompletedProcess[bytes]:
    """Publish ``payload`` at QoS 1 as unit U-1 with Debian's mosquitto_pub."""
    cert, key = site.certs / "U-1.pem", site.certs / "U-1.key"
    command = ["mosquitto_pub", "-h", "localhost", "-p", str(site.port), "-V", version]
    command += ["--cafile", str(site.ca), "--cert", str(cert), "--key", str(key)]
    command += ["-i", "U-1", "-q", "1", "-t", topic, "-s"]
    return subprocess.run(command, input=payload, capture_output=True, timeout=20, check=False)


@needs_mosquitto
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_publishes_a_reading(site: Site, version: str) -> None:
    site.unit("U-1")
    done = mosquitto_pub(site, version, "dt/kenshin/U-1/readings", readings("U-1", 1, 512))
    assert done.returncode == 0, done.stderr
    assert stored_fwd(site, "M-U-1") == [512]


@needs_mosquitto
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_to_another_units_topic_stores_nothing(site: Site, version: str) -> None:
    site.unit("U-1")
    site.unit("U-2")
    mosquitto_pub(site, version, "dt/kenshin/U-2/readings", readings("U-2", 1, 5))
    assert stored_fwd(site, "M-U-2") == []
    assert site.security.counts["topic_refused"] == 1


def test_a_second_connection_takes_over_the_first(site: Site) -> None:
    site.unit("U-1")
    first = connect(site, "U-1", 5)
    second = connect(site, "U-1", 5)
    assert exchange(first, 5) == [Disconnect(0x8E)]
    publish = Publish("dt/kenshin/U-1/readings", readings("U-1", 1, 3), qos=1, packet_id=1)
    assert exchange(second, 5, publish, expect=1) == [PubAck(1)]
    assert site.endpoint.connected == ["U-1"]


def test_a_silent_unit_is_closed_after_one_and_a_half_keep_alives(site: Site) -> None:
    site.unit("U-1")
    conn = site.tls("U-1")
    [accepted] = exchange(conn, 5, Connect(5, "U-1", keep_alive=1), expect=1)
    assert isinstance(accepted, ConnAck)
    assert accepted.reason_code == 0
    assert exchange(conn, 5, PingReq(), expect=1) == [PingResp()]
    started = time.monotonic()
    assert exchange(conn, 5) == [Disconnect(0x8D)]
    assert 1.0 <= time.monotonic() - started < 3.0


def test_acknowledgements_follow_the_order_of_the_publishes(site: Site) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    publishes = [
        Publish("dt/kenshin/U-1/readings", readings("U-1", n, 100 + n), qos=1, packet_id=n)
        for n in range(1, 41)
    ]
    publishes.insert(5, Publish("dt/kenshin/U-1/status", b'{"rsrp": -97}', qos=1, packet_id=99))
    answers = exchange(conn, 5, *publishes, expect=len(publishes))
    assert answers == [PubAck(p.packet_id) for p in publishes if p.packet_id]
    # Every reading of the same instant: the first is stored, the rest are conflicts.
    assert stored_fwd(site, "M-U-1") == [101]
    assert len(site.store.readings.list_conflicts()) == 39
    assert site.endpoint.statuses["U-1"][1] == b'{"rsrp": -97}'
