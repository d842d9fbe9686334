"""ECHONET Lite meter frames: exact decoding and which meter a frame is for.

Dead letters and fuzzing are in test_echonet_frames.py, which shares these helpers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest

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
    decode_echonet,
)
from kenshin.domain.echonet_encoding import (
    edt_fixed_time,
    edt_history,
    edt_uint8,
    edt_uint32,
    encode_echonet,
)
from kenshin.domain.model import DeadLetter, DecodedMessage, MeterBlock, MeterSpec, Reading
from kenshin.domain.readings_json import decode_readings
from kenshin.domain.slots import zone

NEW_YORK = zone("America/New_York")


def epoch(text: str) -> int:
    """UTC epoch seconds of an ISO 8601 time with offset."""
    return int(datetime.fromisoformat(text).timestamp())


RECEIVED = epoch("2026-11-26T12:40:00+09:00")
NOV_26_1230 = datetime(2026, 11, 26, 12, 30)  # Tokyo wall time, ten minutes before RECEIVED
AT_1230 = epoch("2026-11-26T12:30:00+09:00")


def fixed(value: int, moment: datetime = NOV_26_1230) -> tuple[int, bytes]:
    return EPC_FIXED_TIME_FWD, edt_fixed_time(moment, value)


decode = partial(decode_echonet, device="U-1", received_at=RECEIVED, source="test")


def block_of(
    frame: bytes,
    *,
    received_at: int = RECEIVED,
    meter: str | None = None,
    device_meters: Sequence[str] = (),
    tz: ZoneInfo | None = None,
) -> MeterBlock:
    message = decode(
        frame, received_at=received_at, meter=meter, device_meters=device_meters, tz=tz
    )
    assert isinstance(message, DecodedMessage), message
    assert (message.device, message.seq, message.sent) == ("U-1", None, None)
    assert len(message.meters) == 1
    return message.meters[0]


def reason_of(
    frame: bytes, *, received_at: int = RECEIVED, device_meters: Sequence[str] = ()
) -> str:
    letter = decode(frame, received_at=received_at, device_meters=device_meters)
    assert isinstance(letter, DeadLetter), letter
    assert letter == DeadLetter("test", letter.reason, frame, received_at, "U-1")
    return letter.reason


def history(day: int, values: dict[int, int], epc: int = EPC_HISTORY_FWD) -> tuple[int, bytes]:
    return epc, edt_history(day, [values.get(i) for i in range(48)])


SPEC_PROPERTIES = [(EPC_UNIT, edt_uint8(0x01)), (EPC_DIGITS, edt_uint8(6))]


# --- exact decoding -------------------------------------------------------------------------


def test_encoder_writes_the_format_1_layout_byte_for_byte() -> None:
    frame = encode_echonet([(EPC_CUMULATIVE_FWD, edt_uint32(0x01020304))], tid=0x1234)
    assert frame == bytes.fromhex("1081 1234 028801 05ff01 72 01 e0 04 01020304")


def test_history_day_0_starts_at_local_midnight_of_the_receive_day() -> None:
    values = {i: 1000 + 3 * i for i in range(26)}  # 00:00 .. 12:30 local, the rest not yet
    readings = block_of(encode_echonet([history(0, values)])).readings
    first = epoch("2026-11-25T15:00:00Z")
    assert readings[0] == Reading("U-1", first, 1000, None)
    assert readings[-1] == Reading("U-1", epoch("2026-11-26T03:30:00Z"), 1075, None)
    assert [(r.t, r.fwd) for r in readings] == [(first + 1800 * i, 1000 + 3 * i) for i in range(26)]


@pytest.mark.parametrize(
    ("day", "received", "first"),
    [
        (1, "2026-11-26T12:40:00+09:00", "2026-11-24T15:00:00Z"),
        (99, "2026-11-26T12:40:00+09:00", "2026-08-18T15:00:00Z"),
        # 00:10 in Tokyo is still the previous day in UTC: the local date decides.
        (0, "2026-11-26T00:10:00+09:00", "2026-11-25T15:00:00Z"),
    ],
)
def test_history_day_counts_back_local_days(day: int, received: str, first: str) -> None:
    block = block_of(encode_echonet([history(day, {0: 7})]), received_at=epoch(received))
    assert block.readings == (Reading("U-1", epoch(first), 7, None),)


def test_no_measurement_slots_give_no_reading() -> None:
    readings = block_of(encode_echonet([history(1, {0: 5, 47: 9})])).readings
    assert [(r.t, r.fwd) for r in readings] == [
        (epoch("2026-11-24T15:00:00Z"), 5),
        (epoch("2026-11-25T14:30:00Z"), 9),
    ]


def test_normal_and_reverse_history_merge_by_instant() -> None:
    frame = encode_echonet([history(1, {0: 10, 1: 11}), history(1, {1: 0, 2: 2}, EPC_HISTORY_REV)])
    start = epoch("2026-11-24T15:00:00Z")
    assert block_of(frame).readings == (
        Reading("U-1", start, 10, None),
        Reading("U-1", start + 1800, 11, 0),
        Reading("U-1", start + 3600, None, 2),
    )


def test_fixed_time_readings_are_local_meter_time() -> None:
    moment = datetime(2026, 11, 26, 12, 30)
    frame = encode_echonet(
        [
            (EPC_FIXED_TIME_FWD, edt_fixed_time(moment, 123456)),
            (EPC_FIXED_TIME_REV, edt_fixed_time(moment, 42)),
        ],
        esv=0x73,
    )
    t = epoch("2026-11-26T03:30:00Z")
    assert block_of(frame).readings == (Reading("U-1", t, 123456, 42),)
    in_kolkata = epoch("2026-11-26T12:40:00+05:30")
    kolkata = block_of(frame, received_at=in_kolkata, tz=zone("Asia/Kolkata")).readings
    assert kolkata == (Reading("U-1", epoch("2026-11-26T07:00:00Z"), 123456, 42),)


def test_fixed_time_without_measurement_gives_no_reading() -> None:
    frame = encode_echonet([(EPC_FIXED_TIME_FWD, bytes(7) + edt_uint32(None))])
    assert block_of(frame).readings == ()


def test_fixed_time_and_history_agreeing_on_an_instant_give_one_reading() -> None:
    frame = encode_echonet(
        [
            history(0, {25: 500}),
            (EPC_FIXED_TIME_FWD, edt_fixed_time(datetime(2026, 11, 26, 12, 30), 500)),
        ]
    )
    assert block_of(frame).readings == (Reading("U-1", epoch("2026-11-26T03:30:00Z"), 500, None),)


def test_cumulative_values_give_no_reading_but_are_range_checked() -> None:
    frame = encode_echonet(
        [(EPC_CUMULATIVE_FWD, edt_uint32(5000)), (EPC_CUMULATIVE_REV, edt_uint32(12))],
        esv=0x74,
    )
    assert block_of(frame).readings == ()
    empty = encode_echonet([(EPC_CUMULATIVE_FWD, edt_uint32(None))])
    assert block_of(empty).readings == ()
    too_big = encode_echonet([(EPC_CUMULATIVE_REV, edt_uint32(100_000_000))])
    assert "EPC 0xE3 register 100000000 is outside 0..99,999,999" in reason_of(too_big)


def test_cumulative_value_received_on_a_slot_boundary_does_not_outvote_the_fixed_time() -> None:
    frame = encode_echonet([fixed(500), (EPC_CUMULATIVE_FWD, edt_uint32(503))])
    on_boundary = epoch("2026-11-26T13:00:00+09:00")
    assert block_of(frame, received_at=on_boundary).readings == (
        Reading("U-1", AT_1230, 500, None),
    )


@pytest.mark.parametrize(
    ("code", "unit_mwh"),
    [(0x00, 1_000_000), (0x01, 100_000), (0x02, 10_000), (0x03, 1_000), (0x04, 100),
     (0x0A, 10_000_000), (0x0B, 100_000_000), (0x0C, 1_000_000_000), (0x0D, 10_000_000_000)],
)  # fmt: skip
def test_unit_codes_give_exact_mwh(code: int, unit_mwh: int) -> None:
    frame = encode_echonet([(EPC_UNIT, edt_uint8(code)), (EPC_DIGITS, edt_uint8(8))])
    assert block_of(frame).spec == MeterSpec(unit_mwh, 1, 8)


def test_coefficient_joins_the_spec() -> None:
    frame = encode_echonet([*SPEC_PROPERTIES, (EPC_COEFFICIENT, edt_uint32(40))])
    block = block_of(frame)
    assert block.spec == MeterSpec(100_000, 40, 6)
    assert block.spec.resolution_mwh == 4_000_000
    assert block.readings == ()


@pytest.mark.parametrize(
    "properties",
    [
        [(EPC_COEFFICIENT, edt_uint32(40))],
        [(EPC_COEFFICIENT, edt_uint32(40)), (EPC_UNIT, edt_uint8(1))],
        [(EPC_DIGITS, edt_uint8(6)), (EPC_CUMULATIVE_FWD, edt_uint32(1))],
    ],
)
def test_without_unit_and_digits_there_is_no_spec(properties: list[tuple[int, bytes]]) -> None:
    assert block_of(encode_echonet(properties)).spec is None


def test_other_properties_and_meter_instances_are_accepted() -> None:
    frame = encode_echonet(
        [(0x80, b"\x30"), (0xE7, edt_uint32(1500)), (0xE8, b"\0\x0a\0\x14"), fixed(7)],
        seoj=b"\x02\x88\x02",
    )
    assert block_of(frame).readings == (Reading("U-1", AT_1230, 7, None),)


def test_frame_and_json_message_give_identical_readings() -> None:
    fwd = {0: 123400, 1: 123456, 2: 123500}
    rev = {0: 10, 1: 10, 2: 11}
    frame = encode_echonet([*SPEC_PROPERTIES, history(0, fwd), history(0, rev, EPC_HISTORY_REV)])
    times = ["2026-11-26T00:00:00+09:00", "2026-11-26T00:30:00+09:00", "2026-11-26T01:00:00+09:00"]
    document = {
        "v": 1, "device": "U-1", "seq": 1, "sent": "2026-11-26T12:30:04+09:00",
        "meters": [{"meter": "M-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6,
                    "readings": [{"t": t, "fwd": fwd[i], "rev": rev[i]}
                                 for i, t in enumerate(times)]}],
    }  # fmt: skip
    from_json = decode_readings(json.dumps(document).encode(), source="json", received_at=RECEIVED)
    assert isinstance(from_json, DecodedMessage), from_json
    assert block_of(frame, meter="M-1") == from_json.meters[0]


def test_dst_skipped_and_repeated_wall_times_are_left_out() -> None:
    everything = dict(enumerate(range(100, 148)))
    # Received the evening after, so the day's last slot (23:30) is in the past.
    frame = encode_echonet([history(1, everything)])
    spring = block_of(frame, received_at=epoch("2026-03-09T20:00:00-04:00"), tz=NEW_YORK)
    # 02:00 and 02:30 do not exist that day; 03:00 EDT follows 01:30 EST.
    assert len(spring.readings) == 46
    assert (spring.readings[3].t, spring.readings[3].fwd) == (epoch("2026-03-08T06:30:00Z"), 103)
    assert (spring.readings[4].t, spring.readings[4].fwd) == (epoch("2026-03-08T07:00:00Z"), 106)
    autumn = block_of(frame, received_at=epoch("2026-11-02T20:00:00-05:00"), tz=NEW_YORK)
    # 01:00 and 01:30 happen twice: which one the meter meant is unknown.
    assert [r.fwd for r in autumn.readings] == [100, 101, *range(104, 148)]
    assert autumn.readings[2].t == epoch("2026-11-01T07:00:00Z")
    gap = encode_echonet([(EPC_FIXED_TIME_FWD, edt_fixed_time(datetime(2026, 3, 8, 2, 30), 1))])
    assert block_of(gap, tz=NEW_YORK).readings == ()


# --- which meter ----------------------------------------------------------------------------

SERIAL = (EPC_PRODUCTION_NUMBER, b"\x00\x00\x00M5501234\x00")
EXCHANGED = ("P-123", "P-456")


def test_meter_id_comes_from_argument_then_production_number_then_device() -> None:
    frame = encode_echonet([SERIAL, fixed(1)])
    assert block_of(frame).meter == "M5501234"
    assert block_of(frame).readings == (Reading("M5501234", AT_1230, 1, None),)
    assert block_of(frame, meter="M-9").readings == (Reading("M-9", AT_1230, 1, None),)
    unset = encode_echonet([(EPC_PRODUCTION_NUMBER, b" " * 12), fixed(0)])
    assert block_of(unset).readings == (Reading("U-1", AT_1230, 0, None),)
    assert block_of(encode_echonet([fixed(0)])).readings == (Reading("U-1", AT_1230, 0, None),)


def test_without_production_number_the_devices_one_registered_meter_is_used() -> None:
    frame = encode_echonet([fixed(5)], esv=0x73)
    block = block_of(frame, device_meters=["P-123"])
    assert (block.meter, block.spec) == ("P-123", None)
    assert block.readings == (Reading("P-123", AT_1230, 5, None),)
    blank = encode_echonet([(EPC_PRODUCTION_NUMBER, bytes(12)), fixed(5)])
    assert block_of(blank, device_meters=["P-123"]).meter == "P-123"


def test_a_production_number_wins_over_the_registered_meters() -> None:
    frame = encode_echonet([SERIAL, fixed(1)])
    assert block_of(frame, device_meters=["P-123"]).meter == "M5501234"
    assert block_of(frame, device_meters=EXCHANGED).meter == "M5501234"
    assert block_of(frame, meter="M-9", device_meters=EXCHANGED).meter == "M-9"


def test_without_production_number_a_device_with_several_meters_is_a_dead_letter() -> None:
    expected = (
        "the frame has no production number (EPC 0x8D) and device 'U-1' has several meters "
        "('P-123', 'P-456'), so which meter its registers belong to cannot be told; after a "
        "meter exchange the unit must send 0x8D with its registers"
    )
    assert reason_of(encode_echonet([fixed(5)]), device_meters=EXCHANGED) == expected
    blank = encode_echonet([(EPC_PRODUCTION_NUMBER, b" " * 12), fixed(5)])
    assert reason_of(blank, device_meters=EXCHANGED) == expected
    # Nothing else about the frame matters: a spec alone does not name the meter either.
    assert reason_of(encode_echonet(SPEC_PROPERTIES), device_meters=EXCHANGED) == expected
