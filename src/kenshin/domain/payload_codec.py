"""What a payload codec is: the decoder of one kind of message, named by the last part of
the topic it is published to (``dt/kenshin/{device}/{suffix}``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kenshin.domain.model import DeadLetter, DecodedMessage


@dataclass(frozen=True, slots=True)
class PayloadContext:
    """Where a payload came from: the source and time it was received, the device its
    topic names (None when read from a file), and that device's registered meters
    (asked only by a codec that needs them)."""

    source: str
    received_at: int
    device: str | None
    device_meters: Callable[[], Sequence[str]]


@dataclass(frozen=True, slots=True)
class PayloadCodec:
    """Decodes a payload into readings, or explains in a DeadLetter why it cannot; it
    never raises for what a payload holds."""

    suffix: str
    decode: Callable[[bytes, PayloadContext], DecodedMessage | DeadLetter]
