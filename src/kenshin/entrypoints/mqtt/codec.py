"""Sans-IO MQTT packet codec for MQTT 3.1.1 (protocol level 4) and MQTT 5.0 (level 5).

It covers what a meter unit and the server exchange: CONNECT, CONNACK, PUBLISH (QoS 0, 1
and, as data, 2), PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP and
DISCONNECT. PUBREC, PUBREL, PUBCOMP and AUTH are refused as a protocol error (0x82).

Values: frozen dataclasses ``Connect``, ``ConnAck``, ``Publish``, ``PubAck``, ``Subscribe``
(of ``Subscription``), ``SubAck``, ``Unsubscribe``, ``UnsubAck``, ``PingReq``, ``PingResp``,
``Disconnect``, with ``Will`` and MQTT 5 ``Properties``; ``Packet`` is their union.
Reason codes are MQTT 5 values at both levels. At level 4 a CONNACK sends the return code
``CONNACK_RETURN_CODES`` (also ``connack_return_code``) gives; one without a 3.1.1 code
cannot be encoded, and a 3.1.1 server then closes without CONNACK. A SUBACK sends every
failure code as 0x80.

Writing: ``encode(packet, protocol_level) -> bytes``; ``ValueError`` for a packet the
specification forbids or the level cannot carry (properties at level 4, for instance).

Reading: ``PacketReader(max_packet_size, server_side)``; ``feed(data)`` returns the packets
completed by ``data`` (chunks may split or pack packets). A server-side reader takes
CONNECT first and only once; CONNECT's protocol level decodes every later packet, also
later ones in the same chunk. ``protocol_level`` shows it once CONNECT has fully arrived
with a valid name and level, even if the rest of CONNECT is then refused (0x85). Until
CONNECT is read the limit is ``max_connect_size``. A packet's size is checked when its
remaining length has been read, before its body arrives.

Errors: bad input raises ``MalformedPacket(reason, reason_code)`` and nothing else; its
``packets`` are those decoded earlier in the same ``feed``. Codes: 0x81 malformed, 0x82
protocol error, 0x84 unsupported protocol version (a CONNECT not MQTT 3.1.1 or 5.0: answer
with a level-4 CONNACK, return code 1), 0x85 client identifier not valid, 0x8F topic filter
invalid, 0x90 topic name invalid, 0x94 topic alias 0, 0x95 packet too large. The reader is
then spent: each later ``feed`` raises the same error; close the connection.

Left to the server: a QoS it does not grant (0x9B), topic alias ranges and mapping, the
Payload Format Indicator check (0x99), which client ids, users and filters it accepts,
and the order of the session (acknowledgements, keep alive).

Topics: ``valid_topic_name``, ``valid_topic_filter`` and ``topic_matches(filter, topic)``.
"""

from __future__ import annotations

from kenshin.entrypoints.mqtt.data_representation import (
    CLIENT_IDENTIFIER_NOT_VALID,
    MALFORMED_PACKET,
    MAX_VARINT,
    PACKET_TOO_LARGE,
    PROTOCOL_ERROR,
    TOPIC_ALIAS_INVALID,
    TOPIC_FILTER_INVALID,
    TOPIC_NAME_INVALID,
    UNSUPPORTED_PROTOCOL_VERSION,
    MalformedPacket,
)
from kenshin.entrypoints.mqtt.decoding import check_first_byte, connect_level, decode_body
from kenshin.entrypoints.mqtt.encoding import encode
from kenshin.entrypoints.mqtt.packets import (
    CONNACK_REASON_CODES,
    CONNACK_RETURN_CODES,
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
    connack_return_code,
)
from kenshin.entrypoints.mqtt.properties import CONNECT, Properties
from kenshin.entrypoints.mqtt.topics import topic_matches, valid_topic_filter, valid_topic_name

__all__ = [
    "CLIENT_IDENTIFIER_NOT_VALID",
    "CONNACK_REASON_CODES",
    "CONNACK_RETURN_CODES",
    "DEFAULT_MAX_CONNECT_SIZE",
    "MALFORMED_PACKET",
    "MAX_PACKET_SIZE",
    "PACKET_TOO_LARGE",
    "PROTOCOL_ERROR",
    "TOPIC_ALIAS_INVALID",
    "TOPIC_FILTER_INVALID",
    "TOPIC_NAME_INVALID",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "ConnAck",
    "Connect",
    "Disconnect",
    "MalformedPacket",
    "Packet",
    "PacketReader",
    "PingReq",
    "PingResp",
    "Properties",
    "PubAck",
    "Publish",
    "SubAck",
    "Subscribe",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "Will",
    "connack_return_code",
    "encode",
    "topic_matches",
    "valid_topic_filter",
    "valid_topic_name",
]

DEFAULT_MAX_CONNECT_SIZE = 16 * 1024
MAX_PACKET_SIZE = 1 + 4 + MAX_VARINT  # fixed header byte, remaining length, body


class PacketReader:
    """Incremental decoder of one connection's incoming bytes (see the module docstring).

    ``protocol_level`` must be given (4 or 5) on the client side and left None on the
    server side, where CONNECT sets it.
    """

    __slots__ = (
        "_buffer",
        "_error",
        "_level",
        "_max_connect_size",
        "_max_packet_size",
        "_server_side",
    )

    def __init__(
        self,
        max_packet_size: int,
        server_side: bool,
        *,
        protocol_level: int | None = None,
        max_connect_size: int = DEFAULT_MAX_CONNECT_SIZE,
    ) -> None:
        for limit in (max_packet_size, max_connect_size):
            if not 2 <= limit <= MAX_PACKET_SIZE:
                raise ValueError(f"packet size limit {limit} is out of range")
        if server_side != (protocol_level is None) or protocol_level not in (None, 4, 5):
            raise ValueError("give protocol level 4 or 5 on the client side only")
        self._max_packet_size = max_packet_size
        self._max_connect_size = max_connect_size
        self._server_side = server_side
        self._level = protocol_level
        self._buffer = bytearray()
        self._error: MalformedPacket | None = None

    @property
    def protocol_level(self) -> int | None:
        """4 or 5; None on the server side until a CONNECT's level has been read."""
        return self._level

    def feed(self, data: bytes) -> list[Packet]:
        """Take the next bytes received; return the packets they complete, in order."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        packets: list[Packet] = []
        start = 0
        try:
            while (step := self._next(start)) is not None:
                packet, start = step
                packets.append(packet)
        except MalformedPacket as exc:
            exc.packets = tuple(packets)
            self._error = exc
            self._buffer.clear()
            raise
        del self._buffer[:start]  # once per feed: packed small packets cost no quadratic copy
        return packets

    def _header(self, start: int) -> tuple[int, int] | None:
        """Header length and remaining length of the packet at ``start``, None if incomplete."""
        buffer = self._buffer
        check_first_byte(buffer[start], self._server_side, self._level)
        length = 0
        for i in range(1, 5):
            if start + i >= len(buffer):
                return None
            byte = buffer[start + i]
            length |= (byte & 0x7F) << (7 * (i - 1))
            if not byte & 0x80:
                if byte == 0 and i > 1:
                    raise MalformedPacket("remaining length is not in its shortest encoding")
                return 1 + i, length
        raise MalformedPacket("remaining length is longer than four bytes")

    def _next(self, start: int) -> tuple[Packet, int] | None:
        """The packet at ``start`` and where the next begins, None until it is complete."""
        if start >= len(self._buffer) or (header := self._header(start)) is None:
            return None
        header_size, length = header
        limit = self._max_packet_size if self._level is not None else self._max_connect_size
        if header_size + length > limit:
            size = header_size + length
            raise MalformedPacket(f"packet of {size} bytes exceeds {limit}", PACKET_TOO_LARGE)
        end = start + header_size + length
        if end > len(self._buffer):
            return None
        first = self._buffer[start]
        body = bytes(self._buffer[start + header_size : end])
        if first >> 4 == CONNECT:
            self._level = connect_level(body)
        assert self._level is not None  # a client-side reader has it from the start
        return decode_body(first, body, self._level, self._server_side), end
