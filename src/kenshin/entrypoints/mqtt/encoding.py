"""Packets to bytes at protocol level 4 (MQTT 3.1.1) or 5 (MQTT 5.0).

``encode`` refuses, with ``ValueError``, a packet the specification does not allow or that
the level cannot carry (properties or non-zero reason codes at level 4, for instance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kenshin.entrypoints.mqtt import properties as pt
from kenshin.entrypoints.mqtt.data_representation import put_binary, put_u16, put_utf8, put_varint
from kenshin.entrypoints.mqtt.packets import (
    CONNACK_RETURN_CODES,
    CONNACK_V5,
    DISCONNECT_V5,
    PUBACK_V5,
    SUBACK_V5,
    UNSUBACK_V5,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from kenshin.entrypoints.mqtt.properties import Properties, is_empty, put_properties
from kenshin.entrypoints.mqtt.topics import SHARE_PREFIX, valid_topic_filter, valid_topic_name


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _props(props: Properties, where: int, v5: bool) -> bytes:
    if v5:
        return put_properties(props, where)
    _require(is_empty(props), f"an MQTT 3.1.1 {pt.PACKET_NAMES[where]} carries no properties")
    return b""


def _code(code: int, allowed: frozenset[int], where: int) -> bytes:
    _require(code in allowed, f"0x{code:02X} is not a {pt.PACKET_NAMES[where]} reason code")
    return bytes([code])


def _will(will: Will, v5: bool) -> bytes:
    _require(valid_topic_name(will.topic), f"will topic {will.topic!r} is not a topic name")
    _require(will.qos in (0, 1, 2), f"will QoS {will.qos} is not 0, 1 or 2")
    return (
        _props(will.properties, pt.WILL, v5)
        + put_utf8(will.topic, "will topic")
        + put_binary(will.payload, "will payload")
    )


def _connect(p: Connect, v5: bool) -> bytes:
    _require(p.protocol_level == (5 if v5 else 4), "CONNECT level differs from the encoding")
    _require(v5 or p.password is None or p.username is not None, "3.1.1: password needs user")
    _require(v5 or p.clean_start or p.client_id != "", "3.1.1: empty client id needs clean")
    will = _will(p.will, v5) if p.will is not None else b""
    flags = p.clean_start << 1
    if p.will is not None:
        flags |= 0x04 | p.will.qos << 3 | p.will.retain << 5
    flags |= (p.password is not None) << 6 | (p.username is not None) << 7
    return (
        put_utf8("MQTT", "protocol name")
        + bytes([p.protocol_level, flags])
        + put_u16(p.keep_alive, "keep alive")
        + _props(p.properties, pt.CONNECT, v5)
        + put_utf8(p.client_id, "client identifier")
        + will
        + (put_utf8(p.username, "user name") if p.username is not None else b"")
        + (put_binary(p.password, "password") if p.password is not None else b"")
    )


def _connack(p: ConnAck, v5: bool) -> bytes:
    _require(p.reason_code == 0 or not p.session_present, "session present on a refusal")
    if v5:
        code = _code(p.reason_code, CONNACK_V5, pt.CONNACK)
    else:
        mapped = CONNACK_RETURN_CODES.get(p.reason_code)
        _require(mapped is not None, f"3.1.1 has no CONNACK code for 0x{p.reason_code:02X}")
        code = bytes([mapped or 0])
    return bytes([p.session_present]) + code + _props(p.properties, pt.CONNACK, v5)


def _publish_topic(p: Publish, v5: bool) -> None:
    aliased = v5 and p.properties.topic_alias is not None
    _require(valid_topic_name(p.topic) or (aliased and p.topic == ""), f"bad topic {p.topic!r}")


def _publish(p: Publish, v5: bool) -> bytes:
    _require(p.qos in (0, 1, 2), f"QoS {p.qos} is not 0, 1 or 2")
    _require((p.packet_id is None) == (p.qos == 0), "a packet id goes with QoS 1 or 2 only")
    _require(p.packet_id != 0, "packet id 0")
    _require(not (p.dup and p.qos == 0), "DUP on a QoS 0 PUBLISH")
    _publish_topic(p, v5)
    pid = put_u16(p.packet_id, "packet id") if p.packet_id is not None else b""
    return put_utf8(p.topic, "topic") + pid + _props(p.properties, pt.PUBLISH, v5) + p.payload


def _packet_id(packet_id: int) -> bytes:
    _require(packet_id != 0, "packet id 0")
    return put_u16(packet_id, "packet id")


def _short_ack(code: int, props: Properties, allowed: frozenset[int], where: int) -> bytes:
    """Reason code and properties of a v5 PUBACK or DISCONNECT, left out when defaults."""
    tail = put_properties(props, where) if not is_empty(props) else b""
    reason = _code(code, allowed, where) if code or tail else b""
    return reason + tail


def _puback(p: PubAck, v5: bool) -> bytes:
    if not v5:
        _require(p.reason_code == 0, "3.1.1 PUBACK has no reason code")
        _require(is_empty(p.properties), "3.1.1 PUBACK has no properties")
        return _packet_id(p.packet_id)
    return _packet_id(p.packet_id) + _short_ack(p.reason_code, p.properties, PUBACK_V5, pt.PUBACK)


def _subscription(s: Subscription, v5: bool) -> bytes:
    _require(valid_topic_filter(s.topic_filter), f"bad topic filter {s.topic_filter!r}")
    _require(s.qos in (0, 1, 2), f"QoS {s.qos} is not 0, 1 or 2")
    _require(s.retain_handling in (0, 1, 2), f"retain handling {s.retain_handling}")
    options = s.no_local << 2 | s.retain_as_published << 3 | s.retain_handling << 4
    _require(v5 or options == 0, "3.1.1 subscriptions have a QoS only")
    shared = s.topic_filter.startswith(SHARE_PREFIX)
    _require(not (shared and s.no_local), "no local on a shared subscription")
    return put_utf8(s.topic_filter, "topic filter") + bytes([options | s.qos])


def _subscribe(p: Subscribe, v5: bool) -> bytes:
    _require(bool(p.subscriptions), "SUBSCRIBE without a subscription")
    head = _packet_id(p.packet_id) + _props(p.properties, pt.SUBSCRIBE, v5)
    return head + b"".join(_subscription(s, v5) for s in p.subscriptions)


def _suback(p: SubAck, v5: bool) -> bytes:
    _require(bool(p.reason_codes), "SUBACK without a reason code")
    codes = b"".join(_code(c, SUBACK_V5, pt.SUBACK) for c in p.reason_codes)
    if not v5:  # 3.1.1 knows one failure code
        codes = bytes(min(c, 0x80) for c in codes)
    return _packet_id(p.packet_id) + _props(p.properties, pt.SUBACK, v5) + codes


def _unsubscribe(p: Unsubscribe, v5: bool) -> bytes:
    _require(bool(p.topic_filters), "UNSUBSCRIBE without a topic filter")
    for f in p.topic_filters:
        _require(valid_topic_filter(f), f"bad topic filter {f!r}")
    filters = b"".join(put_utf8(f, "topic filter") for f in p.topic_filters)
    return _packet_id(p.packet_id) + _props(p.properties, pt.UNSUBSCRIBE, v5) + filters


def _unsuback(p: UnsubAck, v5: bool) -> bytes:
    _require(bool(p.reason_codes) == v5, "reason codes go in v5 UNSUBACK, one per filter")
    codes = b"".join(_code(c, UNSUBACK_V5, pt.UNSUBACK) for c in p.reason_codes)
    return _packet_id(p.packet_id) + _props(p.properties, pt.UNSUBACK, v5) + codes


def _disconnect(p: Disconnect, v5: bool) -> bytes:
    if not v5:
        _require(p.reason_code == 0, "3.1.1 DISCONNECT has no reason code")
        _require(is_empty(p.properties), "3.1.1 DISCONNECT has no properties")
        return b""
    return _short_ack(p.reason_code, p.properties, DISCONNECT_V5, pt.DISCONNECT)


def _empty(_packet: object, _v5: bool) -> bytes:
    return b""


# packet class -> (first byte of the fixed header, body encoder)
_ENCODERS: dict[type, tuple[int, Callable[[Any, bool], bytes]]] = {
    Connect: (0x10, _connect),
    ConnAck: (0x20, _connack),
    PubAck: (0x40, _puback),
    Subscribe: (0x82, _subscribe),
    SubAck: (0x90, _suback),
    Unsubscribe: (0xA2, _unsubscribe),
    UnsubAck: (0xB0, _unsuback),
    PingReq: (0xC0, _empty),
    PingResp: (0xD0, _empty),
    Disconnect: (0xE0, _disconnect),
}


def encode(packet: Packet, protocol_level: int) -> bytes:
    """The bytes of ``packet`` at ``protocol_level`` 4 or 5; ValueError for an unfit packet."""
    _require(protocol_level in (4, 5), f"protocol level {protocol_level} is not 4 or 5")
    v5 = protocol_level == 5
    if isinstance(packet, Publish):
        body = _publish(packet, v5)
        first = 0x30 | packet.dup << 3 | packet.qos << 1 | packet.retain
    else:
        first, encoder = _ENCODERS[type(packet)]
        body = encoder(packet, v5)
    return bytes([first]) + put_varint(len(body)) + body
