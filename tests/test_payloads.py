"""Payload codecs are registered by the suffix of their topic; each decodes its payloads
or says in a dead letter why it cannot, as the unit's messages show."""

from __future__ import annotations

from kenshin.domain.model import DeadLetter, DecodedMessage
from kenshin.domain.payload_codec import PayloadContext
from kenshin.domain.payloads import CODECS
from kenshin.services.ingest import PayloadKind

NOW = 1_795_576_800


def context(device: str | None) -> PayloadContext:
    return PayloadContext("mqtt", NOW, device, lambda: ("M-1",))


def test_every_payload_kind_has_its_codec_under_its_topic_suffix() -> None:
    assert set(CODECS) == set(PayloadKind)
    assert all(codec.suffix == suffix for suffix, codec in CODECS.items())


def test_a_readings_payload_decodes_and_a_broken_one_is_a_dead_letter() -> None:
    reading = b'{"t":"2026-11-25T12:19:00+09:00","fwd":5}'
    meter = b'{"meter":"M-1","unit":"0.1kWh","coefficient":1,"digits":6,"readings":[%s]}' % reading
    payload = b'{"v":1,"device":"U-1","seq":1,"sent":"2026-11-25T12:20:00+09:00","meters":[%s]}'
    decoded = CODECS["readings"].decode(payload % meter, context("U-1"))
    assert isinstance(decoded, DecodedMessage)
    assert decoded.device == "U-1"
    broken = CODECS["readings"].decode(b"{", context("U-1"))
    assert isinstance(broken, DeadLetter)
    assert broken.reason.startswith("message is not valid JSON")


def test_an_echonet_frame_without_its_device_is_a_dead_letter_saying_so() -> None:
    letter = CODECS["echonet"].decode(b"\x10\x81", context(None))
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "an ECHONET Lite frame needs the sending device's id from its topic"
