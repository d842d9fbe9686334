"""Units publish readings to the endpoint with real MQTT clients; the PUBACK means stored."""

from __future__ import annotations

import json
import ssl
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from .conftest import Site

pytestmark = pytest.mark.integration

T = "2026-11-26T12:30:00+09:00"


def readings(device: str, seq: int, fwd: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "device": device,
            "seq": seq,
            "sent": "2026-11-26T12:30:04+09:00",
            "meters": [
                {
                    "meter": f"M-{device}",
                    "unit": "0.1kWh",
                    "coefficient": 1,
                    "digits": 6,
                    "readings": [{"t": T, "fwd": fwd}],
                }
            ],
        }
    ).encode()


def client(
    site: Site, device: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
) -> mqtt.Client:
    cert, key = site.certs / f"{device}.pem", site.certs / f"{device}.key"
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device, protocol=protocol)
    c.tls_set(
        ca_certs=str(site.ca),
        certfile=str(cert),
        keyfile=str(key),
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    return c


def stored_fwd(site: Site, meter: str) -> list[int | None]:
    found = dict(site.store.readings.readings_between([meter], 0, 2**40))
    return [r.fwd for r in found.get(meter, [])]


def test_a_qos1_reading_is_on_disk_when_the_puback_arrives(site: Site) -> None:
    site.unit("U-1")
    acked = threading.Event()
    seen_at_ack: list[list[int | None]] = []
    c = client(site, "U-1")

    def on_publish(_c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        seen_at_ack.append(stored_fwd(site, "M-U-1"))  # read from another connection
        acked.set()

    c.on_publish = on_publish
    c.connect("localhost", site.port)
    c.loop_start()
    info = c.publish("dt/kenshin/U-1/readings", readings("U-1", 1, 4321), qos=1)
    assert acked.wait(10)
    info.wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    assert seen_at_ack == [[4321]]


def test_mqtt311_units_publish_too(site: Site) -> None:
    site.unit("U-2")
    c = client(site, "U-2", MQTTProtocolVersion.MQTTv311)
    c.connect("localhost", site.port)
    c.loop_start()
    info = c.publish("dt/kenshin/U-2/readings", readings("U-2", 1, 77), qos=1)
    info.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()
    assert info.is_published()
    assert stored_fwd(site, "M-U-2") == [77]
