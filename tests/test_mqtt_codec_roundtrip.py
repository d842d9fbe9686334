"""MQTT codec properties: every packet survives encode then decode, in any chunking, and
mangled bytes give packets or MalformedPacket, never another exception."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.entrypoints.mqtt.codec import (
    MAX_PACKET_SIZE,
    ConnAck,
    Connect,
    Disconnect,
    MalformedPacket,
    Packet,
    PacketReader,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    encode,
)

# Strings: any Unicode scalar value but U+0000; topic levels also without / + #.
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)
LEVEL = st.text(st.characters(codec="utf-8", exclude_characters="\x00/+#"), max_size=5)
TOPIC = st.lists(LEVEL, min_size=1, max_size=4).map("/".join).filter(bool)
PACKET_ID = st.integers(1, 0xFFFF)
U16, U32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFF_FFFF)


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    """Well-formed filters: levels or +, maybe a final #, maybe shared."""
    levels = draw(st.lists(LEVEL | st.just("+"), max_size=4))
    if draw(st.booleans()) or not levels:
        levels.append("#")
    inner = "/".join(levels) or "#"  # a filter is never empty
    if draw(st.integers(0, 4)) == 0:
        return f"$share/{draw(LEVEL.filter(bool))}/{inner}"
    return inner


FILTER = topic_filters()

# Table 2-4 of the MQTT 5 specification: which property goes in which packet.
PROPERTY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "payload_format_indicator": st.sampled_from([0, 1]),
    "message_expiry_interval": U32,
    "content_type": TEXT,
    "response_topic": TOPIC,
    "correlation_data": st.binary(max_size=8),
    "session_expiry_interval": U32,
    "assigned_client_identifier": TEXT,
    "server_keep_alive": U16,
    "authentication_method": TEXT,
    "authentication_data": st.binary(max_size=8),
    "request_problem_information": st.booleans(),
    "will_delay_interval": U32,
    "request_response_information": st.booleans(),
    "response_information": TEXT,
    "server_reference": TEXT,
    "reason_string": TEXT,
    "receive_maximum": st.integers(1, 0xFFFF),
    "topic_alias_maximum": U16,
    "topic_alias": st.integers(1, 0xFFFF),
    "maximum_qos": st.sampled_from([0, 1]),
    "retain_available": st.booleans(),
    "user_properties": st.lists(st.tuples(TEXT, TEXT), max_size=3).map(tuple),
    "maximum_packet_size": st.integers(1, 0xFFFF_FFFF),
    "wildcard_subscription_available": st.booleans(),
    "subscription_identifier_available": st.booleans(),
    "shared_subscription_available": st.booleans(),
    "subscription_identifiers": st.lists(st.integers(1, 268_435_455), max_size=3).map(tuple),
}
_MESSAGE = "payload_format_indicator message_expiry_interval content_type response_topic"
_MESSAGE += " correlation_data user_properties"
ALLOWED = {
    where: names.split()
    for where, names in {
        "CONNECT": "session_expiry_interval authentication_method authentication_data"
        " request_problem_information request_response_information receive_maximum"
        " topic_alias_maximum user_properties maximum_packet_size",
        "CONNACK": "session_expiry_interval assigned_client_identifier server_keep_alive"
        " authentication_method authentication_data response_information server_reference"
        " reason_string receive_maximum topic_alias_maximum maximum_qos retain_available"
        " user_properties maximum_packet_size wildcard_subscription_available"
        " subscription_identifier_available shared_subscription_available",
        "WILL": f"{_MESSAGE} will_delay_interval",
        "PUBLISH from server": f"{_MESSAGE} topic_alias subscription_identifiers",
        "PUBLISH from client": f"{_MESSAGE} topic_alias",
        "ACK": "reason_string user_properties",
        "SUBSCRIBE": "user_properties",  # and one subscription identifier, drawn apart
        "UNSUBSCRIBE": "user_properties",
        "DISCONNECT": "session_expiry_interval reason_string server_reference user_properties",
    }.items()
}


def _with_auth_method(props: Properties) -> Properties:
    """Authentication data needs an authentication method."""
    if props.authentication_data is not None and props.authentication_method is None:
        return replace(props, authentication_method="SCRAM-SHA-1")
    return props


def properties(where: str, level: int) -> st.SearchStrategy[Properties]:
    """Properties allowed in ``where``; none at level 4."""
    if level == 4:
        return st.just(Properties())
    optional = {name: PROPERTY_VALUES[name] for name in ALLOWED[where]}
    return st.fixed_dictionaries({}, optional=optional).map(
        lambda values: _with_auth_method(Properties(**values))
    )


@st.composite
def connects(draw: st.DrawFn, level: int) -> Connect:
    """CONNECT packets; at level 4 an empty client id needs a clean session."""
    client_id = draw(TEXT)
    clean = draw(st.booleans()) or (level == 4 and client_id == "")
    username = draw(st.none() | TEXT)
    password = draw(st.none() | st.binary(max_size=8))
    if level == 4 and username is None:
        password = None
    will = draw(
        st.none()
        | st.builds(
            Will, TOPIC, st.binary(max_size=16), st.integers(0, 2), st.booleans(),
            properties("WILL", level),
        )
    )  # fmt: skip
    props = draw(properties("CONNECT", level))
    return Connect(level, client_id, clean, draw(U16), username, password, will, props)


@st.composite
def publishes(draw: st.DrawFn, level: int, side: str = "client") -> Publish:
    """PUBLISH packets of QoS 0 to 2; at level 5 an aliased topic may be left empty."""
    qos = draw(st.integers(0, 2))
    props = draw(properties(f"PUBLISH from {side}", level))
    topic = draw(TOPIC)
    if props.topic_alias is not None and draw(st.booleans()):
        topic = ""
    packet_id = draw(PACKET_ID) if qos else None
    dup = bool(qos) and draw(st.booleans())
    return Publish(
        topic, draw(st.binary(max_size=64)), qos, draw(st.booleans()), dup, packet_id, props
    )


REASONS = {
    "CONNACK": [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
                0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F],
    "PUBACK": [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
    "SUBACK": [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2],
    "UNSUBACK": [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
    "DISCONNECT": [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
                   0x90, *range(0x93, 0xA3)],
}  # fmt: skip


@st.composite
def connacks(draw: st.DrawFn, level: int) -> ConnAck:
    """CONNACK packets; level 4 carries the six codes 3.1.1 has."""
    codes = REASONS["CONNACK"] if level == 5 else [0x00, 0x84, 0x85, 0x88, 0x86, 0x87]
    code = draw(st.sampled_from(codes))
    present = code == 0 and draw(st.booleans())
    return ConnAck(present, code, draw(properties("CONNACK", level)))


def subscriptions(level: int) -> st.SearchStrategy[Subscription]:
    """Subscriptions; MQTT 5 options at level 5 only, no-local never on a shared filter."""
    if level == 4:
        return st.builds(Subscription, FILTER, st.integers(0, 2))
    return st.builds(
        Subscription, FILTER, st.integers(0, 2), st.booleans(), st.booleans(), st.integers(0, 2)
    ).map(lambda s: replace(s, no_local=s.no_local and not s.topic_filter.startswith("$")))


def subscribe_properties(level: int) -> st.SearchStrategy[Properties]:
    """SUBSCRIBE properties: user properties and at most one subscription identifier."""
    ident = st.lists(st.integers(1, 268_435_455), max_size=1).map(tuple)
    return st.builds(
        lambda props, ids: replace(props, subscription_identifiers=ids if level == 5 else ()),
        properties("SUBSCRIBE", level),
        ident,
    )


def reason_codes(kind: str, level: int) -> st.SearchStrategy[int]:
    """One reason code of packet ``kind`` valid at ``level``."""
    return st.sampled_from(REASONS[kind] if level == 5 else [0x00, 0x01, 0x02, 0x80])


def _codes(kind: str, level: int) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(reason_codes(kind, level), min_size=1, max_size=4).map(tuple)


def _ack_reason(kind: str, level: int) -> st.SearchStrategy[int]:
    return st.sampled_from(REASONS[kind]) if level == 5 else st.just(0)


def packet_strategies(level: int) -> dict[str, st.SearchStrategy[Any]]:
    """One strategy per packet type at ``level``, keyed by the sending side and type."""
    ack = properties("ACK", level)
    return {
        "client CONNECT": connects(level),
        "client PUBLISH": publishes(level),
        "client PUBACK": st.builds(PubAck, PACKET_ID, _ack_reason("PUBACK", level), ack),
        "client SUBSCRIBE": st.builds(
            Subscribe,
            PACKET_ID,
            st.lists(subscriptions(level), min_size=1, max_size=4).map(tuple),
            subscribe_properties(level),
        ),
        "client UNSUBSCRIBE": st.builds(
            Unsubscribe,
            PACKET_ID,
            st.lists(FILTER, min_size=1, max_size=4).map(tuple),
            properties("UNSUBSCRIBE", level),
        ),
        "client PINGREQ": st.just(PingReq()),
        "client DISCONNECT": st.builds(
            Disconnect, _ack_reason("DISCONNECT", level), properties("DISCONNECT", level)
        ),
        "server CONNACK": connacks(level),
        "server PUBLISH": publishes(level, side="server"),
        "server PUBACK": st.builds(PubAck, PACKET_ID, _ack_reason("PUBACK", level), ack),
        "server SUBACK": st.builds(SubAck, PACKET_ID, _codes("SUBACK", level), ack),
        "server UNSUBACK": st.builds(
            UnsubAck, PACKET_ID, _codes("UNSUBACK", level) if level == 5 else st.just(()), ack
        ),
        "server PINGRESP": st.just(PingResp()),
        "server DISCONNECT": st.builds(
            Disconnect, _ack_reason("DISCONNECT", level), properties("DISCONNECT", level)
        ),
    }


KINDS = [
    (level, kind)
    for level in (4, 5)
    for kind in packet_strategies(level)
    if (level, kind) != (4, "server DISCONNECT")  # a 3.1.1 server never sends one
]


def chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    start, i = 0, 0
    while start < len(data):
        yield data[start : start + sizes[i % len(sizes)]]
        start += sizes[i % len(sizes)]
        i += 1


def reader_for(kind: str, level: int, limit: int = MAX_PACKET_SIZE) -> PacketReader:
    """A reader on the receiving side of packets sent by ``kind``'s side."""
    if kind.startswith("client"):
        return PacketReader(limit, server_side=True, max_connect_size=limit)
    return PacketReader(limit, server_side=False, protocol_level=level)


def read_all(reader: PacketReader, data: bytes, sizes: list[int]) -> list[Packet]:
    """Every packet the reader returns for ``data`` fed in chunks."""
    return [packet for chunk in chunks(data, sizes) for packet in reader.feed(chunk)]


def with_connect(kind: str, level: int, packets: list[Packet]) -> list[Packet]:
    """What a client sends: CONNECT first and once; other sides' packets as they are."""
    if kind == "client CONNECT":
        return packets[:1]
    if kind.startswith("client"):
        return [Connect(level, "meter-0001"), *packets]
    return packets


SIZES = st.lists(st.integers(1, 40), min_size=1, max_size=8)


@pytest.mark.parametrize(("level", "kind"), KINDS)
@given(data=st.data())
@settings(deadline=None, max_examples=20)
def test_every_packet_decodes_to_itself_in_any_chunking(
    level: int, kind: str, data: st.DataObject
) -> None:
    strategy = packet_strategies(level)[kind]
    packets = data.draw(st.lists(strategy, min_size=1, max_size=3), label="packets")
    packets = with_connect(kind, level, packets)
    wire = b"".join(encode(packet, level) for packet in packets)
    reader = reader_for(kind, level)
    assert read_all(reader, wire, data.draw(SIZES, label="chunk sizes")) == packets
    assert reader.protocol_level == level


def mutate(wire: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply bit flips (0), truncations (1), insertions (2) and deletions (3)."""
    out = bytearray(wire)
    for op, position, extra in edits:
        at = position % (len(out) + 1)
        if op == 0 and at < len(out):
            out[at] ^= 1 << (extra[0] % 8)
        elif op == 1:
            del out[at:]
        elif op == 2:
            out[at:at] = extra
        elif op == 3:
            del out[at : at + extra[0] % 4 + 1]
    return bytes(out)


EDITS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 4096), st.binary(min_size=1, max_size=4)),
    min_size=1,
    max_size=4,
)


def _fuzz_once(kind: str, level: int, wire: bytes, sizes: list[int]) -> None:
    """Feed ``wire``; whatever decodes must re-encode to the same packets."""
    reader = reader_for(kind, level, limit=512)
    error: MalformedPacket | None = None
    try:
        packets = read_all(reader, wire, sizes)
    except MalformedPacket as exc:
        error = exc
    if error is not None:
        assert error.reason_code in {0x81, 0x82, 0x84, 0x85, 0x8F, 0x90, 0x94, 0x95}
        assert all(isinstance(packet, Packet) for packet in error.packets)
        return
    decoded_level = reader.protocol_level or level
    again = b"".join(encode(packet, decoded_level) for packet in packets)
    assert read_all(reader_for(kind, decoded_level), again, [len(again) or 1]) == packets


@pytest.mark.parametrize(("level", "kind"), KINDS)
@given(data=st.data())
@settings(deadline=None, max_examples=12)
def test_mangled_packets_give_packets_or_malformed_packet(
    level: int, kind: str, data: st.DataObject
) -> None:
    packets = data.draw(st.lists(packet_strategies(level)[kind], min_size=1, max_size=2))
    packets = with_connect(kind, level, packets)
    wire = mutate(b"".join(encode(p, level) for p in packets), data.draw(EDITS))
    _fuzz_once(kind, level, wire, data.draw(SIZES))


@given(
    side=st.sampled_from(["client", "server"]),
    level=st.sampled_from([4, 5]),
    prefix=st.sampled_from([b"", bytes.fromhex("100d00044d5154540502003c000000")]),
    noise=st.binary(max_size=200),
    sizes=SIZES,
)
def test_random_bytes_give_packets_or_malformed_packet(
    side: str, level: int, prefix: bytes, noise: bytes, sizes: list[int]
) -> None:
    _fuzz_once(f"{side} noise", level, prefix + noise, sizes)
