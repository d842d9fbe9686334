"""MQTT packets as frozen values, and the reason codes each may carry.

Reason codes are MQTT 5 values at both protocol levels; at level 4 (MQTT 3.1.1) a CONNACK
carries the return code ``CONNACK_RETURN_CODES`` maps it to, and a SUBACK sends each
failure (any code from 0x80 up) as 0x80. Sequences are tuples so that packets compare and
hash as values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kenshin.entrypoints.mqtt.properties import Properties


@dataclass(frozen=True, slots=True)
class Will:
    """The message a server publishes for a client that goes away without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class Connect:
    """CONNECT: the first packet of a client; ``protocol_level`` is 4 (3.1.1) or 5 (5.0).

    ``clean_start`` is the Clean Session flag at level 4.
    """

    protocol_level: int
    client_id: str
    clean_start: bool = True
    keep_alive: int = 0
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class ConnAck:
    """CONNACK: the server's answer to CONNECT."""

    session_present: bool = False
    reason_code: int = 0
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class Publish:
    """PUBLISH: an application message; ``packet_id`` is None exactly when ``qos`` is 0.

    At level 5 the topic may be empty when ``properties.topic_alias`` names it.
    """

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class PubAck:
    """PUBACK: acknowledges a QoS 1 PUBLISH."""

    packet_id: int
    reason_code: int = 0
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic filter of a SUBSCRIBE with its options (all but ``qos`` are MQTT 5 only)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE: one or more subscriptions."""

    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class SubAck:
    """SUBACK: one reason code (granted QoS or failure) per subscription, in order."""

    packet_id: int
    reason_codes: tuple[int, ...]
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """UNSUBSCRIBE: one or more topic filters."""

    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class UnsubAck:
    """UNSUBACK: at level 5 one reason code per filter; at level 4 no reason codes."""

    packet_id: int
    reason_codes: tuple[int, ...] = ()
    properties: Properties = field(default_factory=Properties)


@dataclass(frozen=True, slots=True)
class PingReq:
    """PINGREQ: a client's keep-alive."""


@dataclass(frozen=True, slots=True)
class PingResp:
    """PINGRESP: the server's answer to PINGREQ."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """DISCONNECT; at level 4 it has no reason code and only a client sends it."""

    reason_code: int = 0
    properties: Properties = field(default_factory=Properties)


Packet = (
    Connect | ConnAck | Publish | PubAck | Subscribe | SubAck | Unsubscribe | UnsubAck
    | PingReq | PingResp | Disconnect
)  # fmt: skip

# MQTT 5 reason code -> MQTT 3.1.1 CONNACK return code, for codes that have one.
CONNACK_RETURN_CODES: dict[int, int] = {
    0x00: 0,  # success -> connection accepted
    0x84: 1,  # unsupported protocol version -> unacceptable protocol version
    0x85: 2,  # client identifier not valid -> identifier rejected
    0x88: 3,  # server unavailable
    0x89: 3,  # server busy -> server unavailable
    0x86: 4,  # bad user name or password
    0x8C: 4,  # bad authentication method -> bad user name or password
    0x87: 5,  # not authorized
    0x8A: 5,  # banned -> not authorized
}
# MQTT 3.1.1 CONNACK return code -> the MQTT 5 reason code a decoded ConnAck carries.
CONNACK_REASON_CODES: dict[int, int] = {0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}

CONNACK_V5 = frozenset(
    {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90}
    | {0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}
)
PUBACK_V5 = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
SUBACK_V5 = frozenset({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2})
SUBACK_V4 = frozenset({0x00, 0x01, 0x02, 0x80})
UNSUBACK_V5 = frozenset({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})
DISCONNECT_V5 = frozenset(
    {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90}
    | set(range(0x93, 0xA3))
)


def connack_return_code(reason_code: int) -> int | None:
    """The MQTT 3.1.1 CONNACK return code for an MQTT 5 reason code.

    None means 3.1.1 has none: the server then closes the connection without a CONNACK.
    """
    return CONNACK_RETURN_CODES.get(reason_code)
