"""The readings decoder ingest uses (msgspec) gives exactly what the contract's reference
decoder (domain.readings_json) gives: the same readings, the same dead-letter reasons."""

from __future__ import annotations

import json
from datetime import date
from itertools import islice
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.model import DeadLetter, DecodedMessage
from kenshin.domain.readings_json import decode_readings
from kenshin.services.readings_fast import decode_readings_fast, vouched
from kenshin.sim.faults import FAULTS
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.transmission import fleet_lines

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
                {"t": "2026-11-26T12:00:00+09:00", "fwd": 123450},
            ],
        },
        {
            "meter": "M:2",
            "unit": "1kWh",
            "coefficient": 40,
            "digits": 8,
            "readings": [{"t": "2026-11-26T03:00:00Z", "rev": 7}],
        },
    ],
}
TEXT = json.dumps(GOOD)
READING = '"t": "2026-11-26T12:30:00+09:00", "fwd": 123456, "rev": 0'


def both(payload: bytes) -> tuple[DecodedMessage | DeadLetter, DecodedMessage | DeadLetter]:
    reference = decode_readings(payload, source="test:1", received_at=5)
    return reference, decode_readings_fast(payload, source="test:1", received_at=5)


def assert_same(payload: bytes) -> None:
    reference, fast = both(payload)
    # repr, not ==: a Reading's sent takes no part in equality but must be the same too.
    assert repr(fast) == repr(reference)


def changed(path: tuple[Any, ...], value: Any) -> bytes:
    document: Any = json.loads(TEXT)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(document).encode()


def test_a_good_message_is_decoded_by_msgspec_exactly_as_by_the_reference() -> None:
    assert vouched(TEXT.encode()) is not None
    assert_same(TEXT.encode())
    assert_same(json.dumps(GOOD, separators=(",", ":")).encode())
    assert_same(json.dumps(GOOD, indent=2).encode())


@pytest.mark.parametrize(
    "text",
    [
        TEXT.replace('"seq": 40123', '"seq": 1, "seq": 40123'),
        TEXT.replace('"digits": 6', '"digits": 6, "digits": 6'),
        TEXT.replace('"fwd": 123456', '"fwd": 1, "fwd": 123456'),
        TEXT.replace('"rev": 7', '"rev": 7, "rev": 7'),
        TEXT.replace('"rev": 7', '"rev": 7, "t": "2026-11-26T03:00:00Z"'),
        TEXT.replace('"meters": [', '"meters": [], "meters": ['),
        TEXT.replace('"M:2"', '"M\\u003a2"'),  # an escape: the same meter, spelt otherwise
        TEXT.replace('"M:2"', '"M\\"2"'),
        TEXT.replace(READING, f"{READING}}}, {{{READING}"),  # the same reading twice
        TEXT.replace(READING, f"{READING}}}, {{{READING.replace('123456', '123457')}"),
        TEXT.replace('"M:2"', '"M-5501234"'),
        TEXT.replace('"+09:00"', '"+09:00 "'),
        TEXT.replace("2026-11-26T03:00:00Z", "2026-11-26 03:00:00+00:00"),
        TEXT.replace("2026-11-26T03:00:00Z", "20261126T030000Z"),
        TEXT.replace("2026-11-26T03:00:00Z", "2099-12-31T23:59:59-01:00"),
        TEXT.replace("2026-11-26T03:00:00Z", "2026-11-26T03:00:00+24:00"),
        TEXT.replace('"rev": 7', '"rev": 99999999'),
        TEXT.replace('"rev": 7', '"rev": 100000000'),
        TEXT.replace('"rev": 7', '"rev": -0'),
        TEXT.replace('"rev": 7', '"rev": 7e0'),
        TEXT.replace('"seq": 40123', '"seq": 9223372036854775808'),
        TEXT.replace('"seq": 40123', '"seq": 99999999999999999999999999'),
        TEXT.replace('"v": 1', '"v": true'),
        "\ufeff" + TEXT,
        f" \n\t{TEXT}\r\n",
        f"{TEXT} x",
        TEXT[:-1],
    ],
)
def test_messages_at_the_edges_decode_the_same(text: str) -> None:
    assert_same(text.encode())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("v",), 2),
        (("device",), "U 1"),
        (("device",), 1),
        (("seq",), -1),
        (("seq",), 2**63 - 1),
        (("sent",), "2026-11-26T12:30:04"),
        (("sent",), "2026-11-26T12:30:04.5+00:00"),
        (("sent",), "1999-12-31T23:59:59Z"),
        (("meters",), []),
        (("meters",), {}),
        (("meters", 0), []),
        (("meters", 0, "unit"), "kWh"),
        (("meters", 0, "coefficient"), 0),
        (("meters", 0, "coefficient"), 1_000_000),
        (("meters", 0, "digits"), 0),
        (("meters", 0, "digits"), 9),
        (("meters", 0, "meter"), "M 1"),
        (("meters", 0, "meter"), ""),
        (("meters", 0, "readings"), []),
        (("meters", 0, "readings", 0), None),
        (("meters", 0, "readings", 0, "fwd"), None),
        (("meters", 0, "readings", 0, "fwd"), 1_000_000),
        (("meters", 0, "readings", 0, "fwd"), 12.0),
        (("meters", 0, "readings", 0, "fwd"), KeyError),
        (("meters", 1, "readings", 0, "rev"), KeyError),
        (("meters", 0, "readings", 0, "t"), KeyError),
        (("meters", 0, "readings", 0, "t"), 1_795_663_800),
        (("meters", 0, "readings", 0, "extra"), 1),
        (("meters", 0, "extra"), 1),
        (("extra",), 1),
        (("meters", 0, "meter"), KeyError),
    ],
)
def test_each_bad_field_gets_the_reference_reason(path: tuple[Any, ...], value: Any) -> None:
    reference, fast = both(changed(path, value))
    assert repr(fast) == repr(reference)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
PLACES = st.sampled_from(
    [
        ("v",),
        ("device",),
        ("seq",),
        ("sent",),
        ("meters", 0, "meter"),
        ("meters", 0, "unit"),
        ("meters", 0, "digits"),
        ("meters", 0, "readings"),
        ("meters", 1, "readings", 0, "t"),
        ("meters", 0, "readings", 1, "fwd"),
        ("meters", 0, "readings", 0, "rev"),
    ]
)


@settings(max_examples=150)
@given(PLACES, JSON_VALUES)
def test_any_field_set_to_any_json_value_decodes_the_same(path: Any, value: Any) -> None:
    assert_same(changed(path, value))


@settings(max_examples=150)
@given(st.integers(0, 1000), st.binary(min_size=1, max_size=3))
def test_a_corrupted_message_decodes_the_same(position: int, noise: bytes) -> None:
    payload = bytearray(TEXT.encode())
    position %= len(payload)
    payload[position : position + len(noise)] = noise
    assert_same(bytes(payload))


def test_a_simulated_fleets_messages_all_take_the_fast_path() -> None:
    spec = FleetSpec(30, 2, date(2026, 11, 2), seed=3, faults=frozenset(FAULTS))
    for line, _ in islice(fleet_lines(spec), 300):
        payload = line.encode()
        decoded = vouched(payload)
        assert decoded is not None
        assert repr(decoded) == repr(decode_readings(payload, source="s", received_at=0))
