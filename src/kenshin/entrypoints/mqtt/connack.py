"""What the endpoint's CONNACK announces to an MQTT 5 unit it accepts.

Its limits (maximum QoS 1, no retain, no shared subscriptions or subscription
identifiers, the largest packet and the QoS 1 messages it may have unacknowledged) and
the unit's reporting offset in the half hour, as the user property ``report-offset-s``
(kenshin.domain.spread).
"""

from __future__ import annotations

from kenshin.domain.readings_json import MAX_PAYLOAD_BYTES
from kenshin.domain.spread import OFFSET_PROPERTY, report_offset_s
from kenshin.entrypoints.mqtt.properties import Properties

MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 1024  # the payload limit plus room for topic and header
RECEIVE_MAXIMUM = 100  # QoS 1 messages a unit may have unacknowledged at once


def accepted_properties(device: str, spread_s: int) -> Properties:
    """The CONNACK properties of unit ``device`` accepted, its offset within ``spread_s``."""
    return Properties(
        maximum_qos=1,
        retain_available=False,
        shared_subscription_available=False,
        subscription_identifier_available=False,
        maximum_packet_size=MAX_PACKET_BYTES,
        receive_maximum=RECEIVE_MAXIMUM,
        user_properties=((OFFSET_PROPERTY, str(report_offset_s(device, spread_s))),),
    )
