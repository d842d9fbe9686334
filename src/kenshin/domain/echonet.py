"""ECHONET Lite frames of a low-voltage smart electric energy meter (class 02 88), decoded.

One frame (format 1) becomes one DecodedMessage for one meter, in the same terms as a JSON
readings message; anything malformed becomes a DeadLetter whose reason says what is wrong.
Decoding never raises. ``echonet_encoding`` builds frames for tests and device simulators.

Times the meter gives (E2/E4 history, EA/EB fixed-time readings) are local wall times in the
meter's zone. A wall time that a DST change skips or repeats has no single instant, so the
reading at it is left out rather than guessed: the slot then shows as a gap.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from kenshin.domain.energy import (
    ECHONET_UNIT_MWH,
    MAX_COEFFICIENT,
    MAX_DIGITS,
    MAX_REGISTER,
    MIN_DIGITS,
)
from kenshin.domain.model import (
    DEFAULT_TIMEZONE,
    DeadLetter,
    DecodedMessage,
    Direction,
    MeterBlock,
    MeterSpec,
    Reading,
)
from kenshin.domain.payload_codec import PayloadCodec, PayloadContext
from kenshin.domain.slots import SLOT_SECONDS, iso_utc, local_day, zone
from kenshin.errors import PayloadError

EHD_FORMAT_1 = b"\x10\x81"
METER_CLASS = b"\x02\x88"
HEADER_BYTES = 12
NO_DATA = 0xFFFFFFFE
HISTORY_SLOTS = 48
MAX_HISTORY_DAY = 99
FUTURE_TOLERANCE_S = 300  # a meter clock may run a little ahead of the server

ESV_GET_RES = 0x72
_DATA_ESVS = (0x72, 0x73, 0x74)  # Get_Res, INF, INFC
_OTHER_ESV = {
    0x50: "SetI_SNA", 0x51: "SetC_SNA", 0x53: "INF_SNA", 0x5E: "SetGet_SNA",
    0x60: "SetI", 0x61: "SetC", 0x62: "Get", 0x63: "INF_REQ", 0x6E: "SetGet",
    0x71: "Set_Res", 0x7A: "INFC_Res", 0x7E: "SetGet_Res",
}  # fmt: skip
_GET_SNA = 0x52

EPC_PRODUCTION_NUMBER = 0x8D
EPC_COEFFICIENT = 0xD3
EPC_DIGITS = 0xD7
EPC_CUMULATIVE_FWD = 0xE0
EPC_UNIT = 0xE1
EPC_HISTORY_FWD = 0xE2
EPC_CUMULATIVE_REV = 0xE3
EPC_HISTORY_REV = 0xE4
EPC_FIXED_TIME_FWD = 0xEA
EPC_FIXED_TIME_REV = 0xEB

# A known EPC whose PDC differs from its layout makes the whole frame suspect.
_CUMULATIVE = (4, "the cumulative energy needs 4 bytes (uint32)")
_HISTORY_SIZE = (194, "the 30-minute history needs 194 bytes (day + 48 registers)")
_FIXED_SIZE = (11, "the fixed-time reading needs 11 bytes (date, time, register)")
_EDT_SIZE: dict[int, tuple[int, str]] = {
    EPC_COEFFICIENT: (4, "the coefficient needs 4 bytes (uint32)"),
    EPC_DIGITS: (1, "the effective digits need 1 byte"),
    EPC_UNIT: (1, "the unit needs 1 byte"),
    EPC_CUMULATIVE_FWD: _CUMULATIVE, EPC_CUMULATIVE_REV: _CUMULATIVE,
    EPC_HISTORY_FWD: _HISTORY_SIZE, EPC_HISTORY_REV: _HISTORY_SIZE,
    EPC_FIXED_TIME_FWD: _FIXED_SIZE, EPC_FIXED_TIME_REV: _FIXED_SIZE,
}  # fmt: skip

HISTORY_LAYOUT = struct.Struct(">H48I")
FIXED_TIME_LAYOUT = struct.Struct(">HBBBBBI")
UINT32 = struct.Struct(">I")

# (UTC instant or None where the wall time is skipped, raw register value)
_Found = list[tuple[int | None, int]]


class _Malformed(PayloadError):
    """The frame is not usable; the text is the dead-letter reason."""


def decode_echonet(
    payload: bytes,
    *,
    device: str,
    received_at: int,
    source: str,
    meter: str | None = None,
    device_meters: Sequence[str] = (),
    tz: ZoneInfo | None = None,
) -> DecodedMessage | DeadLetter:
    """Decode one meter frame into readings, or explain in a DeadLetter why it cannot be used.

    The meter is ``meter`` if given, else the production number (EPC 0x8D), else the one
    meter registered for the device (``device_meters``, distinct ids), else ``device``; a
    frame without 0x8D from a device with several meters is a dead letter. E2/E4 history
    day N is N days before the local date of ``received_at`` in ``tz`` (Asia/Tokyo).
    """
    try:
        properties = _properties(payload)
        meter_id = meter or _production_number(properties) or _meter_of(device, device_meters)
        block = _meter_block(properties, meter_id, received_at, tz or zone(DEFAULT_TIMEZONE))
    except _Malformed as exc:
        return DeadLetter(source, str(exc), payload, received_at, device)
    return DecodedMessage(device=device, seq=None, sent=None, meters=(block,))


def _decode(payload: bytes, context: PayloadContext) -> DecodedMessage | DeadLetter:
    """A frame from the unit its topic names: the device says which meters it may hold."""
    if context.device is None:
        return DeadLetter(
            context.source,
            "an ECHONET Lite frame needs the sending device's id from its topic",
            payload,
            context.received_at,
        )
    return decode_echonet(
        payload,
        device=context.device,
        received_at=context.received_at,
        source=context.source,
        device_meters=context.device_meters(),
    )


CODEC = PayloadCodec("echonet", _decode)


def _properties(payload: bytes) -> dict[int, bytes]:
    _check_header(payload)
    count, pos, found = payload[11], HEADER_BYTES, dict[int, bytes]()
    for n in range(1, count + 1):
        head = payload[pos : pos + 2]
        if len(head) < 2 or pos + 2 + head[1] > len(payload):
            raise _Malformed(
                f"property list truncated: property {n} of {count} (EPC PDC "
                f"{head.hex(' ') or 'missing'}) runs past the end of the {len(payload)}-byte frame"
            )
        epc, pdc = head
        if epc in found:
            raise _Malformed(f"EPC 0x{epc:02X} appears twice in one frame; which one is true?")
        size = _EDT_SIZE.get(epc)
        if size is not None and pdc != size[0]:
            raise _Malformed(f"EPC 0x{epc:02X} has PDC {pdc}; {size[1]}")
        found[epc], pos = bytes(payload[pos + 2 : pos + 2 + pdc]), pos + 2 + pdc
    if pos != len(payload):
        extra = payload[pos:]
        raise _Malformed(
            f"trailing bytes after the last property (OPC {count}): "
            f"{extra[:16].hex(' ')}{' ...' if len(extra) > 16 else ''} ({len(extra)} bytes)"
        )
    return found


def _check_header(payload: bytes) -> None:
    if len(payload) < HEADER_BYTES:
        raise _Malformed(
            f"ECHONET Lite frame too short: {len(payload)} bytes, a frame needs at least "
            f"{HEADER_BYTES} (EHD1 EHD2 TID SEOJ DEOJ ESV OPC)"
        )
    if payload[:2] != EHD_FORMAT_1:
        kind = "format 2 (arbitrary message)" if payload[:2] == b"\x10\x82" else "not ECHONET Lite"
        raise _Malformed(
            f"EHD {payload[:2].hex(' ')} is {kind}; only format 1 frames (10 81) carry meter data"
        )
    seoj = payload[4:7]
    if seoj[:2] != METER_CLASS or not 0x01 <= seoj[2] <= 0x7F:
        raise _Malformed(
            f"SEOJ {seoj.hex(' ')} is not a low-voltage smart electric energy meter "
            "(class 02 88, instance 01..7f)"
        )
    esv = payload[10]
    if esv == _GET_SNA:
        raise _Malformed(
            "ESV 0x52 Get_SNA: the meter could not answer a requested property; "
            "no reading is taken from a refused read"
        )
    if esv not in _DATA_ESVS:
        raise _Malformed(
            f"ESV 0x{esv:02X} ({_OTHER_ESV.get(esv, 'unknown service')}) carries no readings; "
            "expected 0x72 Get_Res, 0x73 INF or 0x74 INFC"
        )
    if payload[11] == 0:
        raise _Malformed("frame carries no properties (OPC 0)")


def _production_number(properties: dict[int, bytes]) -> str | None:
    edt = properties.get(EPC_PRODUCTION_NUMBER)
    if edt is None:
        return None
    text = edt.strip(b"\x00 ")
    if not all(0x21 <= b <= 0x7E for b in text):
        raise _Malformed(
            f"EPC 0x8D production number is not printable ASCII without spaces: {edt.hex(' ')}"
        )
    return text.decode("ascii") or None


def _meter_of(device: str, registered: Sequence[str]) -> str:
    # A frame without 0x8D names no meter. The device's one registered meter is the only
    # one it can be; after an exchange there are several, and a guess would file the new
    # meter's registers under the old one.
    if not registered:
        return device
    if len(registered) == 1:
        return registered[0]
    names = ", ".join(repr(m) for m in registered)
    raise _Malformed(
        f"the frame has no production number (EPC 0x8D) and device {device!r} has several "
        f"meters ({names}), so which meter its registers belong to cannot be told; after a "
        "meter exchange the unit must send 0x8D with its registers"
    )


def _meter_block(
    properties: dict[int, bytes], meter: str, received_at: int, tz: ZoneInfo
) -> MeterBlock:
    coefficient = _coefficient(properties)
    digits = properties[EPC_DIGITS][0] if EPC_DIGITS in properties else None
    if digits is not None and not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise _Malformed(f"EPC 0xD7 effective digits {digits} outside {MIN_DIGITS}..{MAX_DIGITS}")
    unit = properties[EPC_UNIT][0] if EPC_UNIT in properties else None
    if unit is not None and unit not in ECHONET_UNIT_MWH:
        known = " ".join(f"{code:02x}" for code in ECHONET_UNIT_MWH)
        raise _Malformed(f"EPC 0xE1 unit code 0x{unit:02X} is not defined (known: {known})")
    # D3 alone is not a spec: without unit and digits the registered meter's spec applies.
    spec = None
    if unit is not None and digits is not None:
        spec = MeterSpec(ECHONET_UNIT_MWH[unit], coefficient, digits)
    readings = _readings(properties, meter, received_at, tz, digits)
    return MeterBlock(meter, spec, readings)


def _coefficient(properties: dict[int, bytes]) -> int:
    edt = properties.get(EPC_COEFFICIENT)
    if edt is None:
        return 1
    value = int.from_bytes(edt, "big")
    if not 1 <= value <= MAX_COEFFICIENT:
        raise _Malformed(f"EPC 0xD3 coefficient {value} is outside 1..{MAX_COEFFICIENT:,}")
    return value


def _readings(
    properties: dict[int, bytes], meter: str, received_at: int, tz: ZoneInfo, digits: int | None
) -> tuple[Reading, ...]:
    registers: dict[int, dict[Direction, tuple[int, int]]] = {}
    for epc, (direction, read) in _REGISTER_EPCS.items():
        if epc not in properties:
            continue
        for t, value in read(epc, properties[epc], received_at, tz):
            _check_register(epc, value, digits)
            if t is None:
                continue
            first, first_epc = registers.setdefault(t, {}).setdefault(direction, (value, epc))
            if first != value:
                raise _Malformed(
                    f"EPC 0x{first_epc:02X} and 0x{epc:02X} give different {direction.value} "
                    f"registers for {iso_utc(t)}: {first} and {value}"
                )
    if registers and max(registers) > received_at + FUTURE_TOLERANCE_S:
        raise _Malformed(
            f"a register is dated {iso_utc(max(registers))}, after the frame was received at "
            f"{iso_utc(received_at)}: E2/E4 days count back from the receive time, so a history "
            "read before midnight and received after it is misdated; the unit must send it again"
        )
    fwd, rev = Direction.FWD, Direction.REV
    return tuple(
        Reading(meter, t, at[fwd][0] if fwd in at else None, at[rev][0] if rev in at else None)
        for t, at in sorted(registers.items())
    )


def _cumulative(epc: int, edt: bytes, _received_at: int, _tz: ZoneInfo) -> _Found:
    # The meter does not say when it read E0/E3, and the receive time is not that moment:
    # taken as a reading it could land on a slot boundary and outvote the true fixed-time
    # value. It is checked, but only E2/E4 and EA/EB give readings.
    (value,) = UINT32.unpack(edt)
    if value != NO_DATA:
        _check_register(epc, value, None)
    return []


def _history(epc: int, edt: bytes, received_at: int, tz: ZoneInfo) -> _Found:
    day, *values = HISTORY_LAYOUT.unpack(edt)
    if day > MAX_HISTORY_DAY:
        raise _Malformed(f"EPC 0x{epc:02X} history day {day} is outside 0..{MAX_HISTORY_DAY}")
    instants = _history_instants(local_day(received_at, tz) - timedelta(days=day), tz)
    return [(t, value) for t, value in zip(instants, values, strict=True) if value != NO_DATA]


@lru_cache(maxsize=256)
def _history_instants(day: date, tz: ZoneInfo) -> tuple[int | None, ...]:
    # Every unit of a fleet reports the same few days: convert their wall times once.
    midnight = datetime.combine(day, time(0))
    return tuple(
        _instant(midnight + timedelta(seconds=SLOT_SECONDS * i), tz) for i in range(HISTORY_SLOTS)
    )


def _fixed_time(epc: int, edt: bytes, _received_at: int, tz: ZoneInfo) -> _Found:
    year, month, day, hour, minute, second, value = FIXED_TIME_LAYOUT.unpack(edt)
    if value == NO_DATA:
        return []  # the time fields of an empty reading are filler
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise _Malformed(
            f"EPC 0x{epc:02X} time {year:04d}-{month:02d}-{day:02d} "
            f"{hour:02d}:{minute:02d}:{second:02d} is not a valid date and time"
        ) from None
    return [(_instant(wall, tz), value)]


def _instant(wall: datetime, tz: ZoneInfo) -> int | None:
    """UTC epoch second of a local wall time, or None where DST skips or repeats it."""
    early, late = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        return None
    return int(early.timestamp())


def _check_register(epc: int, value: int, digits: int | None) -> None:
    if value > MAX_REGISTER:
        raise _Malformed(f"EPC 0x{epc:02X} register {value} is outside 0..{MAX_REGISTER:,}")
    if digits is not None and value >= 10**digits:
        raise _Malformed(
            f"EPC 0x{epc:02X} register {value} does not fit the meter's {digits} digits (D7); "
            f"it must be below {10**digits:,}"
        )


# Checked in this order, so a self-contradiction names the history first.
_REGISTER_EPCS: dict[int, tuple[Direction, Callable[[int, bytes, int, ZoneInfo], _Found]]] = {
    EPC_HISTORY_FWD: (Direction.FWD, _history),
    EPC_HISTORY_REV: (Direction.REV, _history),
    EPC_FIXED_TIME_FWD: (Direction.FWD, _fixed_time),
    EPC_FIXED_TIME_REV: (Direction.REV, _fixed_time),
    EPC_CUMULATIVE_FWD: (Direction.FWD, _cumulative),
    EPC_CUMULATIVE_REV: (Direction.REV, _cumulative),
}
