"""MQTT codec: exact bytes from the specifications, remaining lengths, the reader's limits and
levels, and what ``encode`` refuses."""

from __future__ import annotations

import pytest

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
    connack_return_code,
    encode,
)
from kenshin.entrypoints.mqtt.data_representation import Reader, put_varint

# Minimal CONNECTs: protocol name "MQTT", level, flags (clean), keep alive 60, client id "".
CONNECT_4 = "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00"
CONNECT_5 = "10 0d 00 04 4d 51 54 54 05 02 00 3c 00 00 00"


def h(text: str) -> bytes:
    """Bytes from spaced hex."""
    return bytes.fromhex(text)


def server_reader(limit: int = 1 << 20) -> PacketReader:
    """A server-side reader, as for a meter unit's connection."""
    return PacketReader(limit, server_side=True)


# (level, who sends it, packet, bytes); CONNECTs follow the spec's non-normative examples
# (3.1.1 section 3.1.2.10: flags CE, keep alive 10; 5.0 section 3.1.2.12: flags C2, keep
# alive 10, Session Expiry Interval 10), with client id "c1", user "u", password "pw".
EXAMPLES: list[tuple[int, str, Packet, str]] = [
    (4, "client", Connect(4, "c1", True, 10, "u", b"pw", Will("w", b"bye", qos=1)),
     "10 1d 00 04 4d 51 54 54 04 ce 00 0a 00 02 63 31 00 01 77 00 03 62 79 65"
     " 00 01 75 00 02 70 77"),
    (5, "client", Connect(5, "c1", True, 10, "u", b"pw", None,
                          Properties(session_expiry_interval=10)),
     "10 1b 00 04 4d 51 54 54 05 c2 00 0a 05 11 00 00 00 0a 00 02 63 31 00 01 75 00 02 70 77"),
    (4, "client", PingReq(), "c0 00"),
    (5, "client", PingReq(), "c0 00"),
    (4, "server", PingResp(), "d0 00"),
    (4, "client", Disconnect(), "e0 00"),
    (5, "server", Disconnect(0x8E), "e0 01 8e"),
    (4, "client", PubAck(10), "40 02 00 0a"),
    (5, "client", PubAck(1, 0x10), "40 03 00 01 10"),
    (5, "server", PubAck(1, 0x97, Properties(reason_string="q")),
     "40 08 00 01 97 04 1f 00 01 71"),
    (4, "server", ConnAck(), "20 02 00 00"),
    (4, "server", ConnAck(session_present=True), "20 02 01 00"),
    (4, "server", ConnAck(reason_code=0x86), "20 02 00 04"),
    (5, "server", ConnAck(properties=Properties(receive_maximum=10, maximum_qos=1)),
     "20 08 00 00 05 21 00 0a 24 01"),
    (5, "server", ConnAck(reason_code=0x84), "20 03 00 84 00"),
    (4, "client", Subscribe(10, (Subscription("a/b", 1), Subscription("c/d", 2))),
     "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02"),
    (5, "client", Subscribe(2, (Subscription("a/#", 1, True, True, 2),)),
     "82 09 00 02 00 00 03 61 2f 23 2d"),
    (4, "server", SubAck(10, (0x00, 0x02, 0x80)), "90 05 00 0a 00 02 80"),
    (4, "client", Unsubscribe(10, ("a",)), "a2 05 00 0a 00 01 61"),
    (4, "server", UnsubAck(10), "b0 02 00 0a"),
    (5, "server", UnsubAck(10, (0x00,)), "b0 04 00 0a 00 00"),
    (4, "client", Publish("a/b", b"hi", qos=1, packet_id=10),
     "32 09 00 03 61 2f 62 00 0a 68 69"),
    (5, "client", Publish("a/b", b"hi", properties=Properties(topic_alias=1)),
     "30 0b 00 03 61 2f 62 03 23 00 01 68 69"),
    (5, "server", Publish("", b"", retain=True, properties=Properties(topic_alias=1)),
     "31 06 00 00 03 23 00 01"),
]  # fmt: skip


def receive(level: int, sender: str, wire: bytes) -> list[Packet]:
    """What the receiving side decodes from ``wire`` (after CONNECT, for a client's)."""
    if sender == "server":
        return PacketReader(1 << 22, server_side=False, protocol_level=level).feed(wire)
    reader = server_reader()
    connect = h(CONNECT_4 if level == 4 else CONNECT_5)
    packets = reader.feed(wire if wire[0] == 0x10 else connect + wire)
    return packets if wire[0] == 0x10 else packets[1:]


@pytest.mark.parametrize(("level", "sender", "packet", "hex_bytes"), EXAMPLES)
def test_packets_have_the_specified_bytes(
    level: int, sender: str, packet: Packet, hex_bytes: str
) -> None:
    assert encode(packet, level) == h(hex_bytes)
    assert receive(level, sender, h(hex_bytes)) == [packet]


@pytest.mark.parametrize(
    ("value", "hex_bytes"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "80 01"),
        (16_383, "ff 7f"),
        (16_384, "80 80 01"),
        (2_097_151, "ff ff 7f"),
        (2_097_152, "80 80 80 01"),
        (268_435_455, "ff ff ff 7f"),
    ],
)
def test_remaining_length_boundaries(value: int, hex_bytes: str) -> None:
    assert put_varint(value) == h(hex_bytes)
    assert Reader(h(hex_bytes)).varint("remaining length") == value


@pytest.mark.parametrize("length", [127, 128, 16_383, 16_384, 2_097_151, 2_097_152])
def test_publish_of_a_boundary_length_is_framed_and_read_back(length: int) -> None:
    packet = Publish("t", (bytes(range(256)) * (length // 256 + 1))[: length - 3])
    wire = encode(packet, 4)
    assert wire[: len(put_varint(length)) + 1] == b"\x30" + put_varint(length)
    assert len(wire) == 1 + len(put_varint(length)) + length
    assert receive(4, "server", wire) == [packet]


def test_largest_remaining_length_is_accepted_and_waits_for_its_body() -> None:
    reader = PacketReader(MAX_PACKET_SIZE, server_side=False, protocol_level=5)
    assert reader.feed(h("30 ff ff ff 7f 00 01 74")) == []


def test_five_byte_remaining_length_is_refused_before_the_fifth_byte() -> None:
    reader = PacketReader(MAX_PACKET_SIZE, server_side=False, protocol_level=5)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(h("30 ff ff ff ff"))
    assert caught.value.reason_code == 0x81
    with pytest.raises(ValueError, match="out of range"):
        put_varint(268_435_456)


def test_remaining_length_must_be_in_its_shortest_form() -> None:
    reader = PacketReader(1024, server_side=False, protocol_level=4)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(h("d0 80 00"))
    assert caught.value.reason_code == 0x81


def test_connect_larger_than_max_connect_size_is_refused_before_its_body() -> None:
    reader = PacketReader(1 << 20, server_side=True, max_connect_size=16 * 1024)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(h("10 81 80 01"))  # remaining length 16,385: only the header was sent
    assert caught.value.reason_code == 0x95


def test_connect_just_within_max_connect_size_is_read() -> None:
    connect = Connect(4, "m" * 1009)  # 1 + 2 + 10 + 2 + 1009 bytes
    assert len(encode(connect, 4)) == 1024
    assert PacketReader(4096, True, max_connect_size=1024).feed(encode(connect, 4)) == [connect]
    with pytest.raises(MalformedPacket) as caught:
        PacketReader(4096, True, max_connect_size=1023).feed(encode(connect, 4)[:4])
    assert caught.value.reason_code == 0x95


def test_max_packet_size_applies_after_connect() -> None:
    big = Publish("t", b"x" * 20_000)
    reader = PacketReader(len(encode(big, 5)), server_side=True, max_connect_size=1024)
    assert reader.feed(h(CONNECT_5) + encode(big, 5)) == [Connect(5, "", keep_alive=60), big]
    too_big = encode(Publish("t", b"x" * 20_001), 5)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(too_big[:4])
    assert caught.value.reason_code == 0x95


def test_level_of_connect_decodes_the_packets_after_it_in_the_same_chunk() -> None:
    publish = h("30 06 00 01 74 00 68 69")  # at level 5 the 00 is an empty property list
    assert server_reader().feed(h(CONNECT_5) + publish)[1] == Publish("t", b"hi")
    assert server_reader().feed(h(CONNECT_4) + publish)[1] == Publish("t", b"\x00hi")


def test_protocol_level_is_known_once_connect_is_read() -> None:
    reader = server_reader()
    assert reader.protocol_level is None
    assert reader.feed(h(CONNECT_5)[:-1]) == []
    assert reader.protocol_level is None
    assert reader.feed(h(CONNECT_5)[-1:]) == [Connect(5, "", keep_alive=60)]
    assert reader.protocol_level == 5


def test_packets_fed_one_byte_at_a_time_complete_on_their_last_byte() -> None:
    wire = h(CONNECT_4) + h("c0 00") + encode(Publish("a", b"1", 1, packet_id=9), 4)
    reader = server_reader()
    done = [(i, reader.feed(wire[i : i + 1])) for i in range(len(wire))]
    assert [(i, packets) for i, packets in done if packets] == [
        (13, [Connect(4, "", keep_alive=60)]),
        (15, [PingReq()]),
        (len(wire) - 1, [Publish("a", b"1", 1, packet_id=9)]),
    ]


def test_after_a_malformed_packet_the_reader_stays_spent() -> None:
    reader = server_reader()
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(h(CONNECT_4) + h("c0 00") + h("c0 01 00"))
    assert caught.value.packets == (Connect(4, "", keep_alive=60), PingReq())
    assert reader.protocol_level == 4
    with pytest.raises(MalformedPacket) as again:
        reader.feed(h("c0 00"))
    assert again.value is caught.value


def test_reader_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="client side"):
        PacketReader(1024, server_side=False)
    with pytest.raises(ValueError, match="client side"):
        PacketReader(1024, server_side=True, protocol_level=5)
    with pytest.raises(ValueError, match="out of range"):
        PacketReader(1, server_side=True)


CONNACK_CODES = [(0x00, 0), (0x84, 1), (0x85, 2), (0x88, 3), (0x89, 3), (0x86, 4), (0x8C, 4),
                 (0x87, 5), (0x8A, 5)]  # fmt: skip


@pytest.mark.parametrize(("reason_code", "return_code"), CONNACK_CODES)
def test_connack_reason_codes_map_to_311_return_codes(reason_code: int, return_code: int) -> None:
    assert connack_return_code(reason_code) == return_code
    assert encode(ConnAck(reason_code=reason_code), 4) == bytes([0x20, 2, 0, return_code])


def test_connack_reason_without_311_return_code_cannot_be_sent_at_level_4() -> None:
    assert connack_return_code(0x81) is None
    with pytest.raises(ValueError, match="no CONNACK code"):
        encode(ConnAck(reason_code=0x81), 4)
    assert encode(ConnAck(reason_code=0x81), 5) == h("20 03 00 81 00")


def test_suback_failures_are_0x80_at_level_4() -> None:
    assert encode(SubAck(1, (0x01, 0x87, 0xA2)), 4) == h("90 05 00 01 01 80 80")
    assert encode(SubAck(1, (0x01, 0x87, 0xA2)), 5) == h("90 06 00 01 00 01 87 a2")


@pytest.mark.parametrize(
    ("packet", "level", "message"),
    [
        (Publish("t", b"", qos=3, packet_id=1), 4, "QoS 3"),
        (Publish("t", b"", qos=1), 4, "packet id"),
        (Publish("t", b"", qos=0, packet_id=1), 4, "packet id"),
        (Publish("t", b"", qos=1, packet_id=0), 4, "packet id 0"),
        (Publish("t", b"", dup=True), 4, "DUP"),
        (Publish("a/+", b""), 5, "bad topic"),
        (Publish("", b""), 5, "bad topic"),
        (Publish("t", b"", properties=Properties(topic_alias=1)), 4, "no properties"),
        (Publish("t", b"", properties=Properties(receive_maximum=5)), 5, "not allowed"),
        (Publish("t", b"", properties=Properties(topic_alias=0)), 5, "must not be 0"),
        (Publish("t\x00", b""), 4, "bad topic"),
        (Connect(4, "c", username="u\x00"), 4, "U\\+0000"),
        (Publish("\ud800", b""), 4, "bad topic"),
        (Publish("t" * 65_536, b""), 4, "bad topic"),
        (PubAck(1, 0x10), 4, "reason code"),
        (PubAck(1, 0x05), 5, "not a PUBACK reason code"),
        (ConnAck(True, 0x87), 5, "session present"),
        (Connect(5, "c"), 4, "level differs"),
        (Connect(4, "", clean_start=False), 4, "empty client id"),
        (Connect(4, "c", password=b"pw"), 4, "password"),
        (Connect(5, "c", will=Will("#", b"")), 5, "will topic"),
        (Subscribe(1, ()), 4, "without a subscription"),
        (Subscribe(1, (Subscription("a/#/b"),)), 4, "bad topic filter"),
        (Subscribe(1, (Subscription("a", no_local=True),)), 4, "QoS only"),
        (Subscribe(1, (Subscription("$share/g/a", no_local=True),)), 5, "shared"),
        (SubAck(1, ()), 4, "without a reason code"),
        (UnsubAck(1, (0,)), 4, "reason codes"),
        (UnsubAck(1), 5, "reason codes"),
        (Unsubscribe(1, ("a+",)), 4, "bad topic filter"),
        (Disconnect(0x8E), 4, "no reason code"),
        (PingReq(), 3, "not 4 or 5"),
    ],
)
def test_encode_refuses_what_the_level_or_specification_forbids(
    packet: Packet, level: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode(packet, level)
