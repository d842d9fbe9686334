"""A unit's CONNACK tells it when to report within the half hour: its offset, by its id."""

from __future__ import annotations

import shutil

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from kenshin.domain.spread import OFFSET_PROPERTY, report_offset_s
from kenshin.entrypoints.mqtt.server import EndpointSettings
from kenshin.sim.mqtt_unit import CA_FILE, PahoUnit

from .conftest import Site
from .test_publish import client

pytestmark = pytest.mark.integration


def connack_properties(site: Site, device: str) -> list[tuple[str, str]]:
    """The user properties of the CONNACK a paho MQTT 5 client gets as ``device``."""
    found: list[tuple[str, str]] = []
    c = client(site, device, MQTTProtocolVersion.MQTTv5)

    def on_connect(*args: object) -> None:
        found.extend(getattr(args[4], "UserProperty", []))

    c.on_connect = on_connect
    c.connect("localhost", site.port)
    while c.loop(1.0) == mqtt.MQTT_ERR_SUCCESS and not c.is_connected():
        pass
    c.disconnect()
    return found


def test_an_mqtt5_unit_is_told_its_offset_in_connack(site: Site) -> None:
    site.unit("U-000123")
    expected = report_offset_s("U-000123")
    assert 0 <= expected < 1800
    assert connack_properties(site, "U-000123") == [(OFFSET_PROPERTY, str(expected))]


def test_the_simulated_unit_keeps_the_offset_it_was_given(site: Site) -> None:
    site.unit("U-7")
    shutil.copy(site.ca, site.certs / CA_FILE)
    unit = PahoUnit("localhost", site.port, site.certs, "U-7")
    unit.probe()
    assert unit.offset_s == report_offset_s("U-7")


def test_an_mqtt311_unit_gets_a_plain_connack(site: Site) -> None:
    site.unit("U-1")
    c = client(site, "U-1", MQTTProtocolVersion.MQTTv311)
    c.connect("localhost", site.port)
    while c.loop(1.0) == mqtt.MQTT_ERR_SUCCESS and not c.is_connected():
        pass
    assert c.is_connected()  # no properties at 3.1.1: the unit works its offset out itself
    c.disconnect()


class TestSpreadOff:
    @pytest.fixture
    def endpoint_settings(self) -> EndpointSettings:
        return EndpointSettings("127.0.0.1", 0, connect_timeout_s=5, report_spread_s=0)

    def test_every_unit_reports_at_the_boundary(self, site: Site) -> None:
        site.unit("U-000123")
        assert connack_properties(site, "U-000123") == [(OFFSET_PROPERTY, "0")]
