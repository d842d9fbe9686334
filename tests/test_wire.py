"""The JSON v1 readings message: strict decoding, dead letters with reasons, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kenshin.domain.model import DeadLetter, DecodedMessage, MeterSpec, Reading
from kenshin.domain.readings_json import decode_readings

GOOD: dict[str, Any] = {
    "v": 1,
    "device": "U-000123",
    "seq": 40123,
    "sent": "2026-11-26T12:30:04+09:00",
    "meters": [
        {
            "meter": "M-5501234",
            "unit": "0.1kWh",
            "coefficient": 1,
            "digits": 6,
            "readings": [
                {"t": "2026-11-26T12:30:00+09:00", "fwd": 123456, "rev": 0},
                {"t": "2026-11-26T12:00:00+09:00", "fwd": 123450, "rev": 0},
            ],
        }
    ],
}
T_1230 = 1_795_663_800  # 2026-11-26T03:30:00Z


def decode(document: Any) -> DecodedMessage | DeadLetter:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return decode_readings(payload, source="test:1", received_at=5)


def with_changes(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(GOOD))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def test_the_brief_example_decodes_to_exact_readings() -> None:
    message = decode(GOOD)
    assert isinstance(message, DecodedMessage)
    assert message.device == "U-000123"
    assert message.seq == 40123
    assert message.sent == T_1230 + 4
    [block] = message.meters
    assert block.spec == MeterSpec(100_000, 1, 6)
    # Sorted by time whatever the order in the message.
    assert block.readings == (
        Reading("M-5501234", T_1230 - 1800, 123450, 0),
        Reading("M-5501234", T_1230, 123456, 0),
    )


def test_any_offset_gives_the_same_instant() -> None:
    utc = with_changes(("meters", 0, "readings", 0, "t"), "2026-11-26T03:30:00Z")
    message = decode(utc)
    assert isinstance(message, DecodedMessage)
    assert message.meters[0].readings[1].t == T_1230


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("v",), 2, "v: expected 1"),
        (("v",), True, "v: expected 1"),
        (("device",), "", "device: expected 1-64 letters"),
        (("device",), "U 1", "device: expected 1-64 letters"),
        (("seq",), -1, "seq: -1 is out of range"),
        (("seq",), "1", "seq: expected an integer"),
        (("sent",), "2026-11-26T12:30:04", "has no UTC offset"),
        (("sent",), "yesterday", "is not an ISO 8601 time"),
        (("meters",), [], "meters: expected a non-empty list"),
        (("meters", 0, "unit"), "kWh", "unit: expected one of"),
        (("meters", 0, "coefficient"), 0, "coefficient: 0 is out of range 1..999999"),
        (("meters", 0, "digits"), 9, "digits: 9 is out of range 1..8"),
        (("meters", 0, "readings", 0, "fwd"), -5, "fwd: -5 is out of range 0..999999"),
        (("meters", 0, "readings", 0, "fwd"), 1_000_000, "out of range 0..999999"),
        (("meters", 0, "readings", 0, "fwd"), 12.5, "fwd: expected an integer"),
        (("meters", 0, "readings", 0, "fwd"), 12.0, "got the decimal 12.0"),
        (("meters", 0, "readings", 0, "fwd"), True, "fwd: expected an integer"),
        (("meters", 0, "readings", 0, "fwd"), None, "fwd: expected an integer"),
        (("meters", 0, "readings", 0, "fwd"), 10**30, "out of range"),
        (("meters", 0, "readings", 0, "t"), "2026-11-26T12:30:00.5+09:00", "fractions of a second"),
        (("meters", 0, "readings", 0, "extra"), 1, "unknown field 'extra'"),
        (("meters", 0, "readings", 0, "t"), KeyError, "missing t"),
        (("meters", 0, "meter"), KeyError, "meters[0]: missing meter"),
    ],
)
def test_each_bad_field_is_named_in_the_dead_letter(
    path: tuple[Any, ...], value: Any, reason: str
) -> None:
    letter = decode(with_changes(path, value))
    assert isinstance(letter, DeadLetter)
    assert reason in letter.reason
    assert letter.source == "test:1"
    assert letter.received_at == 5


def test_reading_without_any_register_is_refused() -> None:
    document = with_changes(("meters", 0, "readings", 0, "fwd"), KeyError)
    del document["meters"][0]["readings"][0]["rev"]
    letter = decode(document)
    assert isinstance(letter, DeadLetter)
    assert "needs fwd, rev or both" in letter.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not valid JSON"),
        (b"garbage", "not valid JSON"),
        (b'{"v": 1, "device": "U-1"', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got a list"),
        (b'{"v": NaN}', "NaN is not a number JSON allows"),
        (b'{"v": Infinity}', "Infinity is not a number JSON allows"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000, "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),
        (b" " * (128 * 1024 + 1), "the limit is 131072"),
    ],
)
def test_undecodable_payloads_are_dead_letters_with_reasons(payload: bytes, reason: str) -> None:
    letter = decode(payload)
    assert isinstance(letter, DeadLetter)
    assert reason in letter.reason
    assert letter.payload == payload


def test_dead_letter_keeps_the_device_when_it_is_readable() -> None:
    letter = decode(with_changes(("seq",), None))
    assert isinstance(letter, DeadLetter)
    assert letter.device == "U-000123"


def test_two_different_readings_for_one_instant_in_one_message_are_refused() -> None:
    document = with_changes(("meters", 0, "readings", 1, "t"), "2026-11-26T12:30:00+09:00")
    letter = decode(document)
    assert isinstance(letter, DeadLetter)
    assert "two different readings" in letter.reason


@given(st.binary(max_size=512))
def test_any_bytes_give_readings_or_a_dead_letter(payload: bytes) -> None:
    result = decode(payload)
    assert isinstance(result, DecodedMessage | DeadLetter)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.lists(st.sampled_from(["v", "device", "seq", "sent", "meters"]), min_size=1), JSON_VALUES)
def test_any_field_set_to_any_json_value_never_raises(keys: list[str], value: Any) -> None:
    document = json.loads(json.dumps(GOOD))
    document[keys[0]] = value
    result = decode(json.dumps(document).encode())
    assert isinstance(result, DecodedMessage | DeadLetter)


@given(st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_corrupted_valid_message_never_raises(position: int, noise: bytes) -> None:
    payload = bytearray(json.dumps(GOOD).encode())
    position %= len(payload)
    payload[position : position + len(noise)] = noise
    result = decode(bytes(payload))
    assert isinstance(result, DecodedMessage | DeadLetter)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (json.dumps(GOOD).replace('"fwd": 123456', '"fwd": 1, "fwd": 999'), "'fwd' appears twice"),
        (json.dumps(GOOD).replace("2026-11-26T12:30:04", "1970-01-01T00:00:00"), "2000-2099"),
        (json.dumps(GOOD).replace('"U-000123"', '"U/1"'), "device: expected 1-64 letters"),
        (json.dumps(GOOD).replace('"U-000123"', '"U+#"'), "device: expected 1-64 letters"),
    ],
)
def test_repeated_keys_far_times_and_topic_characters_are_refused(
    payload: str, reason: str
) -> None:
    letter = decode(payload.encode())
    assert isinstance(letter, DeadLetter)
    assert reason in letter.reason


def test_a_reason_is_never_longer_than_500_characters() -> None:
    document = json.loads(json.dumps(GOOD))
    for n in range(2000):
        document[f"extra{n}"] = n
    letter = decode(document)
    assert isinstance(letter, DeadLetter)
    assert "unknown field" in letter.reason
    assert len(letter.reason) == 500
