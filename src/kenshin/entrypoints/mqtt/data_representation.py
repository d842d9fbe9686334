"""MQTT data representations (spec section 1.5): integers, strings, binary data, and errors.

``Reader`` parses one packet body and raises only ``MalformedPacket``; the ``put_*`` helpers
build bytes and raise ``ValueError`` for values the wire cannot carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from kenshin.errors import ProtocolError

if TYPE_CHECKING:  # packets import this module: the name is for type checkers only
    from kenshin.entrypoints.mqtt.packets import Packet

MAX_VARINT = 268_435_455  # four bytes of seven bits: the largest remaining length
MAX_U16 = 0xFFFF
MAX_U32 = 0xFFFF_FFFF

# MQTT 5 reason codes the codec reports; the server sends them in CONNACK or DISCONNECT.
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
UNSUPPORTED_PROTOCOL_VERSION = 0x84
CLIENT_IDENTIFIER_NOT_VALID = 0x85
TOPIC_FILTER_INVALID = 0x8F
TOPIC_NAME_INVALID = 0x90
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95

T = TypeVar("T")


class MalformedPacket(ProtocolError):
    """Input that breaks the MQTT specification; ``reason_code`` is the MQTT 5 code to send.

    ``packets`` holds the packets a ``PacketReader.feed`` call decoded before the bad one.
    """

    def __init__(self, reason: str, reason_code: int = MALFORMED_PACKET) -> None:
        super().__init__(f"{reason} (reason code 0x{reason_code:02X})", reason_code)
        self.reason = reason
        self.packets: tuple[Packet, ...] = ()


class Reader:
    """Reads MQTT data types from one packet body, front to back."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def remaining(self) -> int:
        """Bytes not yet read."""
        return len(self._data) - self._pos

    def take(self, n: int, what: str) -> bytes:
        """The next ``n`` bytes; a body that ends early is malformed."""
        if n > self.remaining():
            raise MalformedPacket(f"{what} runs past the end of the packet")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def rest(self) -> bytes:
        """All bytes not yet read (a PUBLISH payload)."""
        return self.take(self.remaining(), "payload")

    def u8(self, what: str) -> int:
        """One byte."""
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        """A two-byte big-endian integer."""
        return int.from_bytes(self.take(2, what), "big")

    def u32(self, what: str) -> int:
        """A four-byte big-endian integer."""
        return int.from_bytes(self.take(4, what), "big")

    def varint(self, what: str) -> int:
        """A variable byte integer: at most four bytes, in the fewest bytes that hold it."""
        value = 0
        for i in range(4):
            byte = self.u8(what)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise MalformedPacket(f"{what} is not in its shortest encoding")
                return value
        raise MalformedPacket(f"{what} is longer than four bytes")

    def binary(self, what: str) -> bytes:
        """Binary data: a two-byte length, then that many bytes."""
        return self.take(self.u16(what), what)

    def utf8(self, what: str) -> str:
        """A UTF-8 encoded string, well-formed and without U+0000."""
        return decode_utf8(self.binary(what), what)

    def packet_id(self) -> int:
        """A packet identifier, which is never 0."""
        value = self.u16("packet identifier")
        if value == 0:
            raise MalformedPacket("packet identifier is 0")
        return value

    def items(self, read: Callable[[Reader], T]) -> tuple[T, ...]:
        """Read items with ``read`` until the body ends."""
        out: list[T] = []
        while self.remaining():
            out.append(read(self))
        return tuple(out)

    def end(self, what: str) -> None:
        """Refuse bytes left over after the last field."""
        if self.remaining():
            raise MalformedPacket(f"{self.remaining()} stray bytes at the end of {what}")


def decode_utf8(raw: bytes, what: str) -> str:
    """Decode MQTT UTF-8 (no surrogates, no overlong forms, no U+0000) or refuse it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket(f"{what} is not well-formed UTF-8") from None
    if "\x00" in text:
        raise MalformedPacket(f"{what} contains U+0000")
    return text


def put_varint(value: int) -> bytes:
    """Encode a variable byte integer (0 to 268,435,455) in the fewest bytes."""
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"variable byte integer {value} is out of range")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def put_u16(value: int, what: str) -> bytes:
    """Encode a two-byte integer."""
    if not 0 <= value <= MAX_U16:
        raise ValueError(f"{what} {value} does not fit in two bytes")
    return value.to_bytes(2, "big")


def put_u32(value: int, what: str) -> bytes:
    """Encode a four-byte integer."""
    if not 0 <= value <= MAX_U32:
        raise ValueError(f"{what} {value} does not fit in four bytes")
    return value.to_bytes(4, "big")


def put_binary(value: bytes, what: str) -> bytes:
    """Encode binary data with its two-byte length."""
    return put_u16(len(value), f"length of {what}") + value


def put_utf8(value: str, what: str) -> bytes:
    """Encode a UTF-8 string with its two-byte length; U+0000 and lone surrogates refused."""
    if "\x00" in value:
        raise ValueError(f"{what} contains U+0000")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not encodable as UTF-8") from None
    return put_binary(raw, what)
