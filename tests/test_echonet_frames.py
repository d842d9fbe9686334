"""ECHONET Lite meter frames: dead letters with their reasons, and fuzzing.

Any bytes give readings or a dead letter, never an exception.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.echonet import (
    EPC_COEFFICIENT,
    EPC_CUMULATIVE_FWD,
    EPC_CUMULATIVE_REV,
    EPC_DIGITS,
    EPC_FIXED_TIME_FWD,
    EPC_FIXED_TIME_REV,
    EPC_HISTORY_FWD,
    EPC_HISTORY_REV,
    EPC_PRODUCTION_NUMBER,
    EPC_UNIT,
    FUTURE_TOLERANCE_S,
)
from kenshin.domain.echonet_encoding import (
    edt_fixed_time,
    edt_history,
    edt_uint8,
    edt_uint32,
    encode_echonet,
)
from kenshin.domain.energy import ECHONET_UNIT_MWH
from kenshin.domain.model import DeadLetter, DecodedMessage, Reading
from kenshin.domain.slots import day_start, local_day, zone
from test_echonet import (
    AT_1230,
    NOV_26_1230,
    RECEIVED,
    block_of,
    decode,
    epoch,
    fixed,
    history,
    reason_of,
)

# --- dead letters ---------------------------------------------------------------------------

VALID = encode_echonet([(EPC_CUMULATIVE_FWD, edt_uint32(1))])


def with_header(offset: int, replacement: bytes) -> bytes:
    return VALID[:offset] + replacement + VALID[offset + len(replacement) :]


def frame_of(*properties: tuple[int, bytes]) -> bytes:
    return encode_echonet(list(properties))


FIXED_FEB_30 = (EPC_FIXED_TIME_FWD, bytes.fromhex("07ea 02 1e 0c 00 00") + edt_uint32(1))


@pytest.mark.parametrize(
    ("frame", "phrase"),
    [
        (b"", "too short: 0 bytes, a frame needs at least 12"),
        (VALID[:9], "too short: 9 bytes"),
        (with_header(0, b"\x10\x82"), "EHD 10 82 is format 2"),
        (with_header(0, b"\x7b\x22"), "EHD 7b 22 is not ECHONET Lite"),
        (with_header(4, b"\x02\x87\x01"), "SEOJ 02 87 01 is not a low-voltage smart electric"),
        (with_header(4, b"\x02\x88\x00"), "SEOJ 02 88 00 is not"),
        (with_header(4, b"\x05\xff\x01"), "SEOJ 05 ff 01 is not"),
        (with_header(10, b"\x52"), "ESV 0x52 Get_SNA"),
        (with_header(10, b"\x62"), "ESV 0x62 (Get) carries no readings"),
        (with_header(10, b"\x99"), "ESV 0x99 (unknown service)"),
        (encode_echonet([]), "no properties (OPC 0)"),
        (VALID[:-1], "property list truncated: property 1 of 1 (EPC PDC e0 04)"),
        (with_header(11, b"\x02"), "property 2 of 2 (EPC PDC missing)"),
        (with_header(11, b"\x02") + b"\xe0", "property 2 of 2 (EPC PDC e0)"),
        (with_header(11, b"\x00"), "no properties (OPC 0)"),
        (VALID + b"\x00\x01", "trailing bytes after the last property (OPC 1): 00 01 (2 bytes)"),
        (frame_of((0xE2, bytes(10))), "EPC 0xE2 has PDC 10; the 30-minute history needs 194"),
        (frame_of((0xE4, bytes(196))), "EPC 0xE4 has PDC 196"),
        (frame_of((0xE0, bytes(2))), "EPC 0xE0 has PDC 2; the cumulative energy needs 4"),
        (frame_of((0xE3, b"")), "EPC 0xE3 has PDC 0"),
        (frame_of((0xEA, bytes(7))), "EPC 0xEA has PDC 7; the fixed-time reading needs 11"),
        (frame_of((0xD3, bytes(1))), "EPC 0xD3 has PDC 1; the coefficient needs 4"),
        (frame_of((0xD7, bytes(2))), "EPC 0xD7 has PDC 2; the effective digits need 1"),
        (frame_of((0xE1, bytes(4))), "EPC 0xE1 has PDC 4; the unit needs 1"),
        (frame_of((0xE0, bytes(4)), (0xE0, bytes(4))), "EPC 0xE0 appears twice"),
        (frame_of((0xE0, edt_uint32(100_000_000))), "register 100000000 is outside 0..99,999,999"),
        (frame_of((0xE3, b"\xff\xff\xff\xff")), "EPC 0xE3 register 4294967295 is outside"),
        (frame_of((0xD7, b"\x06"), fixed(1_000_000)), "0xEA register 1000000 does not fit"),
        (frame_of((0xD7, b"\x02"), history(3, {47: 100})), "EPC 0xE2 register 100 does not fit"),
        (frame_of((0xD7, b"\x09")), "EPC 0xD7 effective digits 9 outside 1..8"),
        (frame_of((0xD7, b"\x00")), "effective digits 0 outside"),
        (frame_of((0xD3, edt_uint32(0))), "EPC 0xD3 coefficient 0 is outside 1..999,999"),
        (frame_of((0xD3, edt_uint32(1_000_000))), "coefficient 1000000 is outside"),
        (frame_of((0xE1, b"\x05")), "EPC 0xE1 unit code 0x05 is not defined"),
        (frame_of((0xE2, edt_history(100, [1] * 48))), "EPC 0xE2 history day 100 is outside 0..99"),
        (frame_of(FIXED_FEB_30), "EPC 0xEA time 2026-02-30 12:00:00 is not a valid date and time"),
        (frame_of((0xEB, bytes(11))), "EPC 0xEB time 0000-00-00 00:00:00 is not a valid"),
        (frame_of((0x8D, b"M\xff55")), "EPC 0x8D production number is not printable ASCII"),
        (frame_of((0x8D, b"M 55")), "production number is not printable ASCII without spaces"),
        (
            frame_of(history(0, {25: 100}), (0xEA, edt_fixed_time(NOV_26_1230, 101))),
            "EPC 0xE2 and 0xEA give different fwd registers for 2026-11-26T03:30:00Z: 100 and 101",
        ),
    ],
)  # fmt: skip
def test_malformed_frames_become_dead_letters_with_a_reason(frame: bytes, phrase: str) -> None:
    assert phrase in reason_of(frame)


def test_an_explicit_meter_id_does_not_need_the_production_number() -> None:
    frame = frame_of((0x8D, b"M\xff55"), fixed(3))
    assert block_of(frame, meter="M-1").readings == (Reading("M-1", AT_1230, 3, None),)


def test_history_read_before_midnight_and_received_after_it_is_a_dead_letter() -> None:
    full_day = dict(enumerate(range(2000, 2048)))
    just_after_midnight = epoch("2026-11-27T00:05:00+09:00")
    reason = reason_of(encode_echonet([history(0, full_day)]), received_at=just_after_midnight)
    assert reason.startswith(
        "a register is dated 2026-11-27T14:30:00Z, after the frame was received at "
        "2026-11-26T15:05:00Z"
    )
    next_evening = epoch("2026-11-27T20:00:00+09:00")
    readings = block_of(encode_echonet([history(1, full_day)]), received_at=next_evening).readings
    start = epoch("2026-11-26T00:00:00+09:00")
    assert readings == tuple(Reading("U-1", start + 1800 * i, 2000 + i, None) for i in range(48))


@pytest.mark.parametrize("ahead", [240, FUTURE_TOLERANCE_S])
def test_a_fixed_time_a_little_ahead_of_the_receive_time_is_a_reading(ahead: int) -> None:
    moment = datetime(2026, 11, 26, 12, 40) + timedelta(seconds=ahead)
    assert block_of(frame_of(fixed(9, moment))).readings == (
        Reading("U-1", RECEIVED + ahead, 9, None),
    )


@pytest.mark.parametrize(
    ("ahead", "dated"),
    [(FUTURE_TOLERANCE_S + 1, "2026-11-26T03:45:01Z"), (600, "2026-11-26T03:50:00Z")],
)
def test_a_fixed_time_well_ahead_of_the_receive_time_is_a_dead_letter(
    ahead: int, dated: str
) -> None:
    moment = datetime(2026, 11, 26, 12, 40) + timedelta(seconds=ahead)
    assert reason_of(frame_of(fixed(9, moment))).startswith(
        f"a register is dated {dated}, after the frame was received at 2026-11-26T03:40:00Z"
    )


def test_encoder_refuses_what_a_frame_cannot_hold() -> None:
    with pytest.raises(ValueError, match="PDC holds at most 255"):
        encode_echonet([(0xE0, bytes(256))])
    with pytest.raises(ValueError, match="3 bytes each"):
        encode_echonet([], seoj=b"\x02\x88")
    with pytest.raises(ValueError, match="48 registers"):
        edt_history(0, [1] * 47)


# --- properties -----------------------------------------------------------------------------

REGISTER = st.integers(0, 99_999_999)
MAYBE_REGISTER = st.one_of(st.none(), REGISTER)
# Day 0 only up to 12:30, the last slot before RECEIVED: later ones would be in the future.
HISTORY = st.one_of(
    st.builds(edt_history, st.integers(1, 99), st.lists(MAYBE_REGISTER, min_size=48, max_size=48)),
    st.builds(
        edt_history,
        st.just(0),
        st.lists(MAYBE_REGISTER, min_size=26, max_size=26).map(lambda v: v + [None] * 22),
    ),
)
# Off the half hour and years back, so a fixed-time reading never meets a history slot.
FIXED_TIME = st.builds(
    edt_fixed_time,
    st.datetimes(datetime(2000, 1, 1), datetime(2019, 12, 31)).map(
        lambda d: d.replace(minute=15, microsecond=0)
    ),
    MAYBE_REGISTER,
)
SERIAL = st.text("ABCM0123456789-", min_size=1, max_size=12).map(
    lambda s: s.encode().ljust(12, b"\0")
)
EDTS: dict[int, st.SearchStrategy[bytes]] = {
    EPC_UNIT: st.sampled_from(sorted(ECHONET_UNIT_MWH)).map(edt_uint8),
    EPC_DIGITS: st.just(edt_uint8(8)),
    EPC_COEFFICIENT: st.integers(1, 999_999).map(edt_uint32),
    EPC_CUMULATIVE_FWD: MAYBE_REGISTER.map(edt_uint32),
    EPC_CUMULATIVE_REV: MAYBE_REGISTER.map(edt_uint32),
    EPC_HISTORY_FWD: HISTORY,
    EPC_HISTORY_REV: HISTORY,
    EPC_FIXED_TIME_FWD: FIXED_TIME,
    EPC_FIXED_TIME_REV: FIXED_TIME,
    EPC_PRODUCTION_NUMBER: SERIAL,
    0xE7: st.binary(min_size=4, max_size=4),
}


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    epcs = draw(st.lists(st.sampled_from(sorted(EDTS)), min_size=1, max_size=6, unique=True))
    esv = draw(st.sampled_from([0x72, 0x73, 0x74]))
    return encode_echonet([(epc, draw(EDTS[epc])) for epc in epcs], esv=esv)


@st.composite
def damaged_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(valid_frames()))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(frame) - 1, 0)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and frame:
            frame[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            frame.insert(at, draw(st.integers(0, 255)))
        elif action == "delete" and frame:
            del frame[at]
        elif action == "truncate":
            del frame[at:]
    return bytes(frame)


METERS = st.lists(st.sampled_from(["P-1", "P-2", "P-3"]), max_size=3, unique=True)


def assert_decodes_or_explains(frame: bytes, device_meters: list[str]) -> None:
    result = decode(frame, device_meters=device_meters)
    assert isinstance(result, DecodedMessage | DeadLetter)
    if isinstance(result, DeadLetter):
        assert result.reason
        assert result.payload == frame
    else:
        assert all(r.fwd is not None or r.rev is not None for r in result.meters[0].readings)


@settings(max_examples=300)
@given(st.binary(max_size=400), METERS)
def test_any_bytes_decode_or_become_a_dead_letter(frame: bytes, meters: list[str]) -> None:
    assert_decodes_or_explains(frame, meters)


@settings(max_examples=300)
@given(st.integers(0, 255), st.binary(max_size=400), METERS)
def test_any_property_list_decodes_or_becomes_a_dead_letter(
    opc: int, body: bytes, meters: list[str]
) -> None:
    assert_decodes_or_explains(VALID[:11] + bytes((opc,)) + body, meters)


@settings(max_examples=100)
@given(valid_frames(), METERS.map(lambda m: m[:1]))
def test_valid_frames_decode(frame: bytes, meters: list[str]) -> None:
    assert isinstance(decode(frame, device_meters=meters), DecodedMessage)


@settings(max_examples=100)
@given(damaged_frames(), METERS)
def test_damaged_frames_decode_or_become_a_dead_letter(frame: bytes, meters: list[str]) -> None:
    assert_decodes_or_explains(frame, meters)


@settings(max_examples=100)
@given(st.one_of(st.none(), SERIAL), METERS, REGISTER)
def test_the_meter_is_the_serial_else_the_one_registered_else_the_device(
    serial: bytes | None, meters: list[str], value: int
) -> None:
    properties = [fixed(value)] if serial is None else [(0x8D, serial), fixed(value)]
    result = decode(encode_echonet(properties), device_meters=meters)
    if serial is None and len(meters) > 1:
        assert isinstance(result, DeadLetter)
        assert f"has several meters ({', '.join(map(repr, meters))})" in result.reason
        return
    expected = serial.rstrip(b"\0").decode() if serial else (meters or ["U-1"])[0]
    assert isinstance(result, DecodedMessage)
    assert result.meters[0].readings == (Reading(expected, AT_1230, value, None),)


@settings(max_examples=100)
@given(
    day=st.one_of(st.just(0), st.integers(1, 99)),  # day 0 is the edge case: weight it
    fwd=st.lists(MAYBE_REGISTER, min_size=48, max_size=48),
    rev=st.lists(MAYBE_REGISTER, min_size=48, max_size=48),
    received=st.integers(epoch("2000-01-01T00:00:00Z"), epoch("2099-12-31T00:00:00Z")),
    tz_name=st.sampled_from(["Asia/Tokyo", "UTC", "Asia/Kolkata", "Asia/Kathmandu"]),
)
def test_history_round_trips_exactly(
    day: int, fwd: list[int | None], rev: list[int | None], received: int, tz_name: str
) -> None:
    tz = zone(tz_name)
    if day == 0:  # day 0 is complete only at the end of the receive day
        received = day_start(local_day(received, tz) + timedelta(days=1), tz) - 1
    frame = encode_echonet(
        [(EPC_HISTORY_FWD, edt_history(day, fwd)), (EPC_HISTORY_REV, edt_history(day, rev))]
    )
    block = block_of(frame, received_at=received, tz=tz)
    midnight = day_start(local_day(received, tz) - timedelta(days=day), tz)
    expected = tuple(
        Reading("U-1", midnight + 1800 * i, f, r)
        for i, (f, r) in enumerate(zip(fwd, rev, strict=True))
        if f is not None or r is not None
    )
    assert block.readings == expected
