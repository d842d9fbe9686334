"""Bytes to packets: the fixed header's first byte, then one packet body at a known level.

Every check raises ``MalformedPacket`` with the MQTT 5 reason code for the peer; nothing
else escapes (the ``Reader`` turns short bodies and bad UTF-8 into ``MalformedPacket``).
"""

from __future__ import annotations

from collections.abc import Callable

from kenshin.entrypoints.mqtt import properties as pt
from kenshin.entrypoints.mqtt.data_representation import (
    CLIENT_IDENTIFIER_NOT_VALID,
    PROTOCOL_ERROR,
    TOPIC_FILTER_INVALID,
    TOPIC_NAME_INVALID,
    UNSUPPORTED_PROTOCOL_VERSION,
    MalformedPacket,
    Reader,
)
from kenshin.entrypoints.mqtt.packets import (
    CONNACK_REASON_CODES,
    CONNACK_V5,
    DISCONNECT_V5,
    PUBACK_V5,
    SUBACK_V4,
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
from kenshin.entrypoints.mqtt.properties import Properties, read_properties
from kenshin.entrypoints.mqtt.topics import SHARE_PREFIX, valid_topic_filter, valid_topic_name

_FROM_CLIENT = frozenset({pt.CONNECT, pt.PUBLISH, pt.PUBACK, pt.SUBSCRIBE, pt.UNSUBSCRIBE})
_FROM_CLIENT |= {pt.PINGREQ, pt.DISCONNECT}
_FROM_SERVER = frozenset({pt.CONNACK, pt.PUBLISH, pt.PUBACK, pt.SUBACK, pt.UNSUBACK})
_FROM_SERVER |= {pt.PINGRESP, pt.DISCONNECT}
_EMPTY = Properties()


def check_first_byte(first: int, server_side: bool, level: int | None) -> None:
    """Refuse a packet type and flags that cannot come next, before its body arrives.

    ``level`` is None on the server side until CONNECT has been read.
    """
    kind, flags = first >> 4, first & 0x0F
    name = pt.PACKET_NAMES.get(kind, "reserved packet type 0")
    if kind == 0:
        raise MalformedPacket(name)
    if kind not in _FROM_CLIENT | _FROM_SERVER:  # QoS 2 flow and AUTH
        raise MalformedPacket(f"{name} is not supported", PROTOCOL_ERROR)
    if kind not in (_FROM_CLIENT if server_side else _FROM_SERVER):
        side = "client" if server_side else "server"
        raise MalformedPacket(f"a {side} does not send {name}", PROTOCOL_ERROR)
    if server_side and (kind == pt.CONNECT) != (level is None):
        raise MalformedPacket(f"{name} {'again' if level else 'before CONNECT'}", PROTOCOL_ERROR)
    if kind == pt.DISCONNECT and level == 4 and not server_side:
        raise MalformedPacket("an MQTT 3.1.1 server does not send DISCONNECT", PROTOCOL_ERROR)
    expected = 2 if kind in (pt.SUBSCRIBE, pt.UNSUBSCRIBE) else 0
    if kind != pt.PUBLISH and flags != expected:
        raise MalformedPacket(f"reserved flags {flags:04b} of {name}")


def connect_level(body: bytes) -> int:
    """The protocol level of a CONNECT body: 4 or 5; any other name or level gets 0x84."""
    return _read_level(Reader(body))


def _read_level(r: Reader) -> int:
    name = r.utf8("protocol name")
    level = r.u8("protocol level")
    if name != "MQTT" or level not in (4, 5):
        reason = f"protocol {name!r} level {level} is not MQTT 3.1.1 or 5.0"
        raise MalformedPacket(reason, UNSUPPORTED_PROTOCOL_VERSION)
    return level


def _props(r: Reader, where: int, v5: bool) -> Properties:
    return read_properties(r, where) if v5 else _EMPTY


def _reason(r: Reader, allowed: frozenset[int], where: int) -> int:
    code = r.u8("reason code")
    if code not in allowed:
        raise MalformedPacket(f"0x{code:02X} is not a {pt.PACKET_NAMES[where]} reason code")
    return code


def _connect_flags(flags: int, v5: bool) -> None:
    will, will_qos, will_retain = flags & 0x04, flags >> 3 & 3, flags & 0x20
    if flags & 0x01:
        raise MalformedPacket("reserved CONNECT flag is set")
    if will_qos == 3 or (not will and (will_qos or will_retain)):
        raise MalformedPacket(f"will QoS {will_qos}, retain {will_retain > 0}, flag {will > 0}")
    if not v5 and flags & 0x40 and not flags & 0x80:
        raise MalformedPacket("3.1.1 CONNECT has a password without a user name")


def _will(r: Reader, flags: int, v5: bool) -> Will | None:
    if not flags & 0x04:
        return None
    props = _props(r, pt.WILL, v5)
    topic = r.utf8("will topic")
    if not valid_topic_name(topic):
        raise MalformedPacket(f"will topic {topic!r} is not a topic name", TOPIC_NAME_INVALID)
    payload = r.binary("will payload")
    return Will(topic, payload, flags >> 3 & 3, bool(flags & 0x20), props)


def _connect(_flags: int, r: Reader, _level: int) -> Connect:
    level = _read_level(r)
    v5 = level == 5
    flags = r.u8("connect flags")
    _connect_flags(flags, v5)
    clean_start = bool(flags & 0x02)
    keep_alive = r.u16("keep alive")
    props = _props(r, pt.CONNECT, v5)
    client_id = r.utf8("client identifier")
    if not v5 and not client_id and not clean_start:
        raise MalformedPacket("empty client id without clean session", CLIENT_IDENTIFIER_NOT_VALID)
    will = _will(r, flags, v5)
    username = r.utf8("user name") if flags & 0x80 else None
    password = r.binary("password") if flags & 0x40 else None
    r.end("CONNECT")
    return Connect(level, client_id, clean_start, keep_alive, username, password, will, props)


def _connack(_flags: int, r: Reader, level: int) -> ConnAck:
    ack_flags = r.u8("acknowledge flags")
    if ack_flags > 1:
        raise MalformedPacket("reserved CONNACK flags are set")
    if level == 5:
        code = _reason(r, CONNACK_V5, pt.CONNACK)
    else:
        return_code = r.u8("return code")
        if return_code not in CONNACK_REASON_CODES:
            raise MalformedPacket(f"CONNACK return code {return_code}")
        code = CONNACK_REASON_CODES[return_code]
    if ack_flags and code:
        raise MalformedPacket("session present on a refused connection", PROTOCOL_ERROR)
    props = _props(r, pt.CONNACK, level == 5)
    r.end("CONNACK")
    return ConnAck(bool(ack_flags), code, props)


def _publish(flags: int, r: Reader, level: int) -> Publish:
    dup, qos, retain = bool(flags & 0x08), flags >> 1 & 3, bool(flags & 0x01)
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    if dup and not qos:
        raise MalformedPacket("DUP on a QoS 0 PUBLISH")
    topic = r.utf8("topic name")
    packet_id = r.packet_id() if qos else None
    props = _props(r, pt.PUBLISH, level == 5)
    if "+" in topic or "#" in topic:
        raise MalformedPacket(f"wildcard in topic name {topic!r}", TOPIC_NAME_INVALID)
    if not topic and props.topic_alias is None:
        raise MalformedPacket("empty topic name without a topic alias", PROTOCOL_ERROR)
    return Publish(topic, r.rest(), qos, retain, dup, packet_id, props)


def _short_ack(r: Reader, allowed: frozenset[int], where: int) -> tuple[int, Properties]:
    """Reason code and properties of a v5 PUBACK or DISCONNECT, each optional at the end."""
    code = _reason(r, allowed, where) if r.remaining() else 0
    props = read_properties(r, where) if r.remaining() else _EMPTY
    r.end(pt.PACKET_NAMES[where])
    return code, props


def _puback(_flags: int, r: Reader, level: int) -> PubAck:
    packet_id = r.packet_id()
    if level == 4:
        r.end("PUBACK")
        return PubAck(packet_id)
    return PubAck(packet_id, *_short_ack(r, PUBACK_V5, pt.PUBACK))


def _filter(r: Reader) -> str:
    topic_filter = r.utf8("topic filter")
    if not valid_topic_filter(topic_filter):
        raise MalformedPacket(f"topic filter {topic_filter!r}", TOPIC_FILTER_INVALID)
    return topic_filter


def _subscription(r: Reader, v5: bool) -> Subscription:
    topic_filter = _filter(r)
    options = r.u8("subscription options")
    if options & (0xC0 if v5 else 0xFC) or options & 3 == 3:
        raise MalformedPacket(f"subscription options {options:08b}")
    no_local, retain_handling = bool(options & 0x04), options >> 4 & 3
    if retain_handling == 3 or (no_local and topic_filter.startswith(SHARE_PREFIX)):
        raise MalformedPacket(f"subscription options {options:08b}", PROTOCOL_ERROR)
    return Subscription(topic_filter, options & 3, no_local, bool(options & 0x08), retain_handling)


def _subscribe(_flags: int, r: Reader, level: int) -> Subscribe:
    packet_id = r.packet_id()
    props = _props(r, pt.SUBSCRIBE, level == 5)
    subscriptions = r.items(lambda item: _subscription(item, level == 5))
    if not subscriptions:
        raise MalformedPacket("SUBSCRIBE without a topic filter", PROTOCOL_ERROR)
    return Subscribe(packet_id, subscriptions, props)


def _codes(r: Reader, allowed: frozenset[int], where: int) -> tuple[int, ...]:
    codes = r.items(lambda item: _reason(item, allowed, where))
    if not codes:
        raise MalformedPacket(f"{pt.PACKET_NAMES[where]} without a reason code", PROTOCOL_ERROR)
    return codes


def _suback(_flags: int, r: Reader, level: int) -> SubAck:
    packet_id = r.packet_id()
    props = _props(r, pt.SUBACK, level == 5)
    return SubAck(packet_id, _codes(r, SUBACK_V5 if level == 5 else SUBACK_V4, pt.SUBACK), props)


def _unsubscribe(_flags: int, r: Reader, level: int) -> Unsubscribe:
    packet_id = r.packet_id()
    props = _props(r, pt.UNSUBSCRIBE, level == 5)
    filters = r.items(_filter)
    if not filters:
        raise MalformedPacket("UNSUBSCRIBE without a topic filter", PROTOCOL_ERROR)
    return Unsubscribe(packet_id, filters, props)


def _unsuback(_flags: int, r: Reader, level: int) -> UnsubAck:
    packet_id = r.packet_id()
    if level == 4:
        r.end("UNSUBACK")
        return UnsubAck(packet_id)
    props = read_properties(r, pt.UNSUBACK)
    return UnsubAck(packet_id, _codes(r, UNSUBACK_V5, pt.UNSUBACK), props)


def _pingreq(_flags: int, r: Reader, _level: int) -> PingReq:
    r.end("PINGREQ")
    return PingReq()


def _pingresp(_flags: int, r: Reader, _level: int) -> PingResp:
    r.end("PINGRESP")
    return PingResp()


def _disconnect(_flags: int, r: Reader, level: int) -> Disconnect:
    if level == 4:
        r.end("DISCONNECT")
        return Disconnect()
    return Disconnect(*_short_ack(r, DISCONNECT_V5, pt.DISCONNECT))


_DECODERS: dict[int, Callable[[int, Reader, int], Packet]] = {
    pt.CONNECT: _connect,
    pt.CONNACK: _connack,
    pt.PUBLISH: _publish,
    pt.PUBACK: _puback,
    pt.SUBSCRIBE: _subscribe,
    pt.SUBACK: _suback,
    pt.UNSUBSCRIBE: _unsubscribe,
    pt.UNSUBACK: _unsuback,
    pt.PINGREQ: _pingreq,
    pt.PINGRESP: _pingresp,
    pt.DISCONNECT: _disconnect,
}


def decode_body(first: int, body: bytes, level: int, server_side: bool) -> Packet:
    """Decode one packet whose first byte passed ``check_first_byte``, at protocol ``level``."""
    packet = _DECODERS[first >> 4](first & 0x0F, Reader(body), level)
    if server_side and isinstance(packet, Publish) and packet.properties.subscription_identifiers:
        raise MalformedPacket("a client PUBLISH carries a subscription identifier", PROTOCOL_ERROR)
    return packet
