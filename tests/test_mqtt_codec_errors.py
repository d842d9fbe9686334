"""MQTT codec: what a reader refuses, with the reason code a server sends, and topic rules."""

from __future__ import annotations

import pytest

from kenshin.entrypoints.mqtt.codec import (
    Connect,
    MalformedPacket,
    PacketReader,
    Properties,
    Publish,
    Subscribe,
    Subscription,
    topic_matches,
    valid_topic_filter,
    valid_topic_name,
)

CONNECT_4 = "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00"
CONNECT_5 = "10 0d 00 04 4d 51 54 54 05 02 00 3c 00 00 00"
MQTT = "00 04 4d 51 54 54"  # protocol name "MQTT"
SHARED = b"$share/g/ab".hex(" ")

# (what is wrong, bytes a client sends, reason code)
FROM_CLIENT = [
    ("MQTT 3.1 (MQIsdp, level 3)", "10 0e 00 06 4d 51 49 73 64 70 03 02 00 3c 00 00", 0x84),
    ("protocol level 6", f"10 0c {MQTT} 06 02 00 3c 00 00", 0x84),
    ("protocol name MQTX", "10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00", 0x84),
    ("reserved CONNECT flag", f"10 0c {MQTT} 04 03 00 3c 00 00", 0x81),
    ("3.1.1 empty client id, no clean session", f"10 0c {MQTT} 04 00 00 3c 00 00", 0x85),
    ("client id not UTF-8", f"10 0d {MQTT} 04 02 00 3c 00 01 ff", 0x81),
    ("client id with U+0000", f"10 0d {MQTT} 04 02 00 3c 00 01 00", 0x81),
    ("overlong UTF-8", f"10 0e {MQTT} 04 02 00 3c 00 02 c0 80", 0x81),
    ("UTF-8 surrogate", f"10 0f {MQTT} 04 02 00 3c 00 03 ed a0 80", 0x81),
    ("string longer than the packet", f"10 0d {MQTT} 04 02 00 3c 00 05 61", 0x81),
    ("will QoS 3", f"10 0c {MQTT} 04 1e 00 3c 00 00", 0x81),
    ("will retain without will", f"10 0c {MQTT} 04 22 00 3c 00 00", 0x81),
    ("3.1.1 password without user name", f"10 0c {MQTT} 04 42 00 3c 00 00", 0x81),
    ("will topic with wildcard", f"10 11 {MQTT} 04 06 00 3c 00 00 00 01 23 00 00", 0x90),
    ("stray byte after CONNECT", f"10 0d {MQTT} 04 02 00 3c 00 00 00", 0x81),
    ("receive maximum 0", f"10 10 {MQTT} 05 02 00 3c 03 21 00 00 00 00", 0x82),
    ("request problem information 2", f"10 0f {MQTT} 05 02 00 3c 02 17 02 00 00", 0x82),
    ("authentication data, no method", f"10 11 {MQTT} 05 02 00 3c 04 16 00 01 aa 00 00", 0x82),
    ("PUBLISH before CONNECT", "30 03 00 01 74", 0x82),
    ("CONNECT larger than 16 KiB", "10 81 80 01", 0x95),
    ("second CONNECT", CONNECT_4 + CONNECT_4, 0x82),
    ("CONNACK from a client", CONNECT_4 + "20 02 00 00", 0x82),
    ("PUBREL (QoS 2 flow)", CONNECT_4 + "62 02 00 01", 0x82),
    ("AUTH", CONNECT_5 + "f0 00", 0x82),
    ("packet type 0", CONNECT_4 + "00 00", 0x81),
    ("PINGREQ with a body", CONNECT_4 + "c0 01 00", 0x81),
    ("PINGREQ with flags", CONNECT_4 + "c1 00", 0x81),
    ("remaining length of five bytes", CONNECT_4 + "30 ff ff ff ff", 0x81),
    ("PUBLISH QoS 3", CONNECT_4 + "36 03 00 01 74", 0x81),
    ("PUBLISH packet id 0", CONNECT_4 + "32 05 00 01 74 00 00", 0x81),
    ("PUBLISH without packet id", CONNECT_4 + "32 03 00 01 74", 0x81),
    ("DUP on QoS 0", CONNECT_4 + "38 03 00 01 74", 0x81),
    ("topic name #", CONNECT_4 + "30 03 00 01 23", 0x90),
    ("topic name a/+", CONNECT_4 + "30 05 00 03 61 2f 2b", 0x90),
    ("3.1.1 empty topic name", CONNECT_4 + "30 02 00 00", 0x82),
    ("5.0 empty topic name, no alias", CONNECT_5 + "30 03 00 00 00", 0x82),
    ("property not for PUBLISH", CONNECT_5 + "30 09 00 01 74 05 11 00 00 00 0a", 0x81),
    ("unknown property", CONNECT_5 + "30 06 00 01 74 02 7f 00", 0x81),
    ("topic alias twice", CONNECT_5 + "30 0a 00 01 74 06 23 00 01 23 00 02", 0x82),
    ("topic alias 0", CONNECT_5 + "30 07 00 01 74 03 23 00 00", 0x94),
    ("subscription id from a client", CONNECT_5 + "30 06 00 01 74 02 0b 01", 0x82),
    ("properties past the end", CONNECT_5 + "30 04 00 01 74 05", 0x81),
    ("PUBACK reason code 0x05", CONNECT_5 + "40 03 00 01 05", 0x81),
    ("PUBACK with a stray byte", CONNECT_4 + "40 03 00 01 00", 0x81),
    ("SUBSCRIBE without a filter", CONNECT_4 + "82 02 00 01", 0x82),
    ("SUBSCRIBE flags 0000", CONNECT_4 + "80 06 00 01 00 01 61 00", 0x81),
    ("SUBSCRIBE filter a/#/b", CONNECT_4 + "82 0a 00 01 00 05 61 2f 23 2f 62 00", 0x8F),
    ("SUBSCRIBE filter a+", CONNECT_4 + "82 07 00 01 00 02 61 2b 00", 0x8F),
    ("3.1.1 SUBSCRIBE no-local bit", CONNECT_4 + "82 06 00 01 00 01 61 04", 0x81),
    ("SUBSCRIBE QoS 3", CONNECT_4 + "82 06 00 01 00 01 61 03", 0x81),
    ("retain handling 3", CONNECT_5 + "82 07 00 01 00 00 01 61 30", 0x82),
    ("no local on a shared filter", CONNECT_5 + "82 11 00 01 00 00 0b" + SHARED + " 04", 0x82),
    ("two subscription ids", CONNECT_5 + "82 0b 00 01 04 0b 01 0b 02 00 01 61 00", 0x82),
    ("UNSUBSCRIBE without a filter", CONNECT_4 + "a2 02 00 01", 0x82),
    ("DISCONNECT reason code 0x01", CONNECT_5 + "e0 01 01", 0x81),
]


@pytest.mark.parametrize(("wrong", "hex_bytes", "code"), FROM_CLIENT)
def test_server_reader_refuses_with_the_reason_code(wrong: str, hex_bytes: str, code: int) -> None:
    reader = PacketReader(1 << 20, server_side=True)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(bytes.fromhex(hex_bytes))
    assert caught.value.reason_code == code, (wrong, caught.value.reason)


def test_no_local_is_refused_on_shared_filters_only() -> None:
    wire = bytes.fromhex(CONNECT_5 + "82 10 00 01 00 00 0a" + b"$shared/ab".hex(" ") + " 04")
    packet = PacketReader(1024, server_side=True).feed(wire)[1]
    assert packet == Subscribe(1, (Subscription("$shared/ab", no_local=True),))


def test_unsupported_version_leaves_the_level_unknown_and_bad_client_id_does_not() -> None:
    reader = PacketReader(1024, server_side=True)
    with pytest.raises(MalformedPacket):
        reader.feed(bytes.fromhex(FROM_CLIENT[0][1]))
    assert reader.protocol_level is None  # answer with a level-4 CONNACK, return code 1
    reader = PacketReader(1024, server_side=True)
    with pytest.raises(MalformedPacket):
        reader.feed(bytes.fromhex(FROM_CLIENT[4][1]))
    assert reader.protocol_level == 4  # CONNACK return code 2 at level 4


def test_v5_empty_client_id_without_clean_start_is_for_the_server_to_judge() -> None:
    wire = bytes.fromhex(f"10 0d {MQTT} 05 00 00 3c 00 00 00")
    assert PacketReader(1024, server_side=True).feed(wire) == [
        Connect(5, "", clean_start=False, keep_alive=60)
    ]


def test_user_properties_may_repeat_and_keep_their_order() -> None:
    props = "0e 26 00 01 6b 00 01 31 26 00 01 6b 00 01 32"  # k=1, k=2
    wire = bytes.fromhex(CONNECT_5 + "30 12 00 01 74" + props)
    packet = PacketReader(1024, server_side=True).feed(wire)[1]
    assert packet == Publish(
        "t", b"", properties=Properties(user_properties=(("k", "1"), ("k", "2")))
    )


FROM_SERVER = [
    ("3.1.1 DISCONNECT from a server", 4, "e0 00", 0x82),
    ("CONNECT from a server", 4, CONNECT_4, 0x82),
    ("PINGREQ from a server", 5, "c0 00", 0x82),
    ("3.1.1 CONNACK return code 6", 4, "20 02 00 06", 0x81),
    ("CONNACK session present on refusal", 4, "20 02 01 05", 0x82),
    ("CONNACK reserved flags", 5, "20 03 02 00 00", 0x81),
    ("SUBACK without codes", 4, "90 02 00 01", 0x82),
    ("3.1.1 SUBACK code 0x87", 4, "90 03 00 01 87", 0x81),
    ("5.0 UNSUBACK without codes", 5, "b0 03 00 01 00", 0x82),
    ("PUBLISH too large", 4, "30 81 08", 0x95),
]


@pytest.mark.parametrize(("wrong", "level", "hex_bytes", "code"), FROM_SERVER)
def test_client_reader_refuses_with_the_reason_code(
    wrong: str, level: int, hex_bytes: str, code: int
) -> None:
    reader = PacketReader(1024, server_side=False, protocol_level=level)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(bytes.fromhex(hex_bytes))
    assert caught.value.reason_code == code, (wrong, caught.value.reason)


# Examples of MQTT 3.1.1 section 4.7 and MQTT 5.0 section 4.7.
MATCHES = [
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),
    ("#", "sport/tennis", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+/tennis/#", "sport/tennis", True),
    ("ACCOUNTS", "Accounts", False),
    ("#", "$SYS/broker/uptime", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("$share/meters/kenshin/+/readings", "kenshin/0001/readings", True),
    ("$share/meters/#", "$SYS/x", False),
    ("a/b", "a/b/c", False),
    ("a/+/c", "a/b/c", True),
    ("a/b", "a/+", False),  # a topic name has no wildcards
    ("a/#/b", "a/x/b", False),  # not a filter
]


@pytest.mark.parametrize(("topic_filter", "topic", "matches"), MATCHES)
def test_topic_matches(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize(
    ("topic_filter", "valid"),
    [
        ("#", True),
        ("+", True),
        ("/", True),
        ("sport/#", True),
        ("+/tennis/#", True),
        ("sport/+/player1", True),
        ("$share/g/#", True),
        ("", False),
        ("sport/tennis#", False),
        ("sport/tennis/#/ranking", False),
        ("sport+", False),
        ("a\x00b", False),
        ("\udc80", False),
        ("$share//a", False),
        ("$share/g", False),
        ("$share/g/", False),
        ("$share/g+/a", False),
        ("a" * 65_536, False),
    ],
)
def test_valid_topic_filter(topic_filter: str, valid: bool) -> None:
    assert valid_topic_filter(topic_filter) is valid


@pytest.mark.parametrize(
    ("topic", "valid"),
    [("a/b", True), ("/", True), ("$SYS/x", True), ("", False), ("a/+", False), ("#", False)],
)
def test_valid_topic_name(topic: str, valid: bool) -> None:
    assert valid_topic_name(topic) is valid
