"""MQTT 5 properties (spec section 2.2.2): one typed value class, read and written per packet type.

Each packet type admits only its own properties (spec table 2-4); a property other than User
Property (and Subscription Identifier in PUBLISH) may appear once. Reading refuses the rest
with ``MalformedPacket``, writing with ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from kenshin.entrypoints.mqtt.data_representation import (
    MAX_VARINT,
    PROTOCOL_ERROR,
    TOPIC_ALIAS_INVALID,
    MalformedPacket,
    Reader,
    put_binary,
    put_u16,
    put_u32,
    put_utf8,
    put_varint,
)

# Packet types (spec section 2.1.2); WILL stands for the will properties inside CONNECT.
WILL, CONNECT, CONNACK, PUBLISH, PUBACK = 0, 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
PACKET_NAMES = {
    WILL: "will", CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH",
    PUBACK: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", 15: "AUTH",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Properties:
    """MQTT 5 properties of one packet; None (or an empty tuple) means absent.

    Flags are bools; ``payload_format_indicator`` and ``maximum_qos`` are 0 or 1.
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: bool | None = None
    will_delay_interval: int | None = None
    request_response_information: bool | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: bool | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: bool | None = None
    subscription_identifier_available: bool | None = None
    shared_subscription_available: bool | None = None


class _Spec(NamedTuple):
    ident: int
    name: str
    kind: str  # byte (0 or 1), flag, u16, u32, varint, utf8, binary, pair
    packets: frozenset[int]
    zero_code: int | None = None  # the reason code for a value of 0, where 0 is refused


def _in(*packets: int) -> frozenset[int]:
    return frozenset(packets)


_ACKS = _in(CONNACK, PUBACK, SUBACK, UNSUBACK, DISCONNECT)
_ALL = _in(WILL, CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE) | _ACKS
_TABLE = (
    _Spec(0x01, "payload_format_indicator", "byte", _in(PUBLISH, WILL)),
    _Spec(0x02, "message_expiry_interval", "u32", _in(PUBLISH, WILL)),
    _Spec(0x03, "content_type", "utf8", _in(PUBLISH, WILL)),
    _Spec(0x08, "response_topic", "utf8", _in(PUBLISH, WILL)),
    _Spec(0x09, "correlation_data", "binary", _in(PUBLISH, WILL)),
    _Spec(0x0B, "subscription_identifiers", "varint", _in(PUBLISH, SUBSCRIBE), PROTOCOL_ERROR),
    _Spec(0x11, "session_expiry_interval", "u32", _in(CONNECT, CONNACK, DISCONNECT)),
    _Spec(0x12, "assigned_client_identifier", "utf8", _in(CONNACK)),
    _Spec(0x13, "server_keep_alive", "u16", _in(CONNACK)),
    _Spec(0x15, "authentication_method", "utf8", _in(CONNECT, CONNACK)),
    _Spec(0x16, "authentication_data", "binary", _in(CONNECT, CONNACK)),
    _Spec(0x17, "request_problem_information", "flag", _in(CONNECT)),
    _Spec(0x18, "will_delay_interval", "u32", _in(WILL)),
    _Spec(0x19, "request_response_information", "flag", _in(CONNECT)),
    _Spec(0x1A, "response_information", "utf8", _in(CONNACK)),
    _Spec(0x1C, "server_reference", "utf8", _in(CONNACK, DISCONNECT)),
    _Spec(0x1F, "reason_string", "utf8", _ACKS),
    _Spec(0x21, "receive_maximum", "u16", _in(CONNECT, CONNACK), PROTOCOL_ERROR),
    _Spec(0x22, "topic_alias_maximum", "u16", _in(CONNECT, CONNACK)),
    _Spec(0x23, "topic_alias", "u16", _in(PUBLISH), TOPIC_ALIAS_INVALID),
    _Spec(0x24, "maximum_qos", "byte", _in(CONNACK)),
    _Spec(0x25, "retain_available", "flag", _in(CONNACK)),
    _Spec(0x26, "user_properties", "pair", _ALL),
    _Spec(0x27, "maximum_packet_size", "u32", _in(CONNECT, CONNACK), PROTOCOL_ERROR),
    _Spec(0x28, "wildcard_subscription_available", "flag", _in(CONNACK)),
    _Spec(0x29, "subscription_identifier_available", "flag", _in(CONNACK)),
    _Spec(0x2A, "shared_subscription_available", "flag", _in(CONNACK)),
)
_BY_ID = {spec.ident: spec for spec in _TABLE}
_REPEATED = ("user_properties", "subscription_identifiers")


def _read_pair(r: Reader, what: str) -> tuple[str, str]:
    return r.utf8(f"{what} name"), r.utf8(f"{what} value")


def _read_small(r: Reader, what: str) -> int:
    value = r.u8(what)
    if value > 1:
        raise MalformedPacket(f"{what} is {value}, not 0 or 1", PROTOCOL_ERROR)
    return value


_READ: dict[str, Callable[[Reader, str], Any]] = {
    "byte": _read_small,
    "flag": lambda r, what: bool(_read_small(r, what)),
    "u16": Reader.u16,
    "u32": Reader.u32,
    "varint": Reader.varint,
    "utf8": Reader.utf8,
    "binary": Reader.binary,
    "pair": _read_pair,
}


def _read_one(body: Reader, where: int) -> tuple[_Spec, Any]:
    ident = body.varint("property identifier")
    spec = _BY_ID.get(ident)
    if spec is None or where not in spec.packets:
        raise MalformedPacket(f"property 0x{ident:02X} is not allowed in {PACKET_NAMES[where]}")
    value = _READ[spec.kind](body, spec.name)
    if value == 0 and spec.zero_code is not None:
        raise MalformedPacket(f"{spec.name} is 0", spec.zero_code)
    return spec, value


def read_properties(r: Reader, where: int) -> Properties:
    """Read a property length and the properties after it, as allowed in packet type ``where``."""
    length = r.varint("property length")
    if not length:
        return _EMPTY
    body = Reader(r.take(length, "properties"))
    values: dict[str, Any] = {}
    while body.remaining():
        spec, value = _read_one(body, where)
        if spec.name not in _REPEATED:
            if spec.name in values:
                raise MalformedPacket(f"{spec.name} appears more than once", PROTOCOL_ERROR)
            values[spec.name] = value
        elif spec.name in values and spec.name == "subscription_identifiers" and where != PUBLISH:
            raise MalformedPacket("subscription identifier appears more than once", PROTOCOL_ERROR)
        else:
            values[spec.name] = (*values.get(spec.name, ()), value)
    if "authentication_data" in values and "authentication_method" not in values:
        raise MalformedPacket("authentication data without a method", PROTOCOL_ERROR)
    return Properties(**values)


def _put_small(value: int, what: str) -> bytes:
    if value not in (0, 1):
        raise ValueError(f"{what} must be 0 or 1, not {value}")
    return bytes([value])


def _put_varint_id(value: int, what: str) -> bytes:
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{what} {value} is out of range")
    return put_varint(value)


_WRITE: dict[str, Callable[[Any, str], bytes]] = {
    "byte": _put_small,
    "flag": lambda value, what: _put_small(int(value), what),
    "u16": put_u16,
    "u32": put_u32,
    "varint": _put_varint_id,
    "utf8": put_utf8,
    "binary": put_binary,
    "pair": lambda pair, what: put_utf8(pair[0], what) + put_utf8(pair[1], what),
}


def put_properties(props: Properties, where: int) -> bytes:
    """Encode the property length and properties of packet type ``where``; ValueError if unfit."""
    out = bytearray()
    for spec in _TABLE:
        value = getattr(props, spec.name)
        if value is None or value == ():
            continue
        if where not in spec.packets:
            raise ValueError(f"{spec.name} is not allowed in {PACKET_NAMES[where]}")
        values = value if spec.name in _REPEATED else (value,)
        if spec.name == "subscription_identifiers" and where != PUBLISH and len(values) > 1:
            raise ValueError(f"{PACKET_NAMES[where]} carries one subscription identifier")
        for one in values:
            if one == 0 and spec.zero_code is not None:
                raise ValueError(f"{spec.name} must not be 0")
            out += bytes([spec.ident]) + _WRITE[spec.kind](one, spec.name)
    if props.authentication_data is not None and props.authentication_method is None:
        raise ValueError("authentication data needs an authentication method")
    return put_varint(len(out)) + bytes(out)


def is_empty(props: Properties) -> bool:
    """Whether no property is set (all that an MQTT 3.1.1 packet can carry)."""
    return props == _EMPTY


_EMPTY = Properties()
