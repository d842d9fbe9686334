"""ECHONET Lite frames built: the encoder that tests and device simulators use.

The inverse of ``echonet``: properties (EPC, EDT) in, a format 1 frame out; the
``edt_*`` functions lay out the meter's property values as the meter would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kenshin.domain.echonet import (
    EHD_FORMAT_1,
    ESV_GET_RES,
    FIXED_TIME_LAYOUT,
    HISTORY_LAYOUT,
    HISTORY_SLOTS,
    NO_DATA,
    UINT32,
)


def encode_echonet(
    properties: Sequence[tuple[int, bytes]],
    *,
    esv: int = ESV_GET_RES,
    tid: int = 1,
    seoj: bytes = b"\x02\x88\x01",
    deoj: bytes = b"\x05\xff\x01",
) -> bytes:
    """An ECHONET Lite format 1 frame carrying ``properties`` (EPC, EDT) in the given order."""
    if len(seoj) != 3 or len(deoj) != 3:
        raise ValueError("SEOJ and DEOJ are 3 bytes each")
    if len(properties) > 255:
        raise ValueError(f"{len(properties)} properties; OPC holds at most 255")
    frame = bytearray(
        EHD_FORMAT_1 + tid.to_bytes(2, "big") + seoj + deoj + bytes((esv, len(properties)))
    )
    for epc, edt in properties:
        if len(edt) > 255:
            raise ValueError(f"EDT of EPC 0x{epc:02X} is {len(edt)} bytes; PDC holds at most 255")
        frame += bytes((epc, len(edt))) + edt
    return bytes(frame)


def edt_uint8(value: int) -> bytes:
    """A one-byte EDT (D7 digits, E1 unit code)."""
    return bytes((value,))


def edt_uint32(value: int | None) -> bytes:
    """A uint32 EDT (D3, E0, E3); None is the meter's "no measurement"."""
    return UINT32.pack(NO_DATA if value is None else value)


def edt_history(day: int, values: Sequence[int | None]) -> bytes:
    """An E2/E4 EDT: day N before today and the 48 half-hour registers; None is "no measurement"."""
    if len(values) != HISTORY_SLOTS:
        raise ValueError(f"a history holds {HISTORY_SLOTS} registers, got {len(values)}")
    return HISTORY_LAYOUT.pack(day, *(NO_DATA if v is None else v for v in values))


def edt_fixed_time(moment: datetime, value: int | None) -> bytes:
    """An EA/EB EDT: the meter's local wall time (naive) and the register at it."""
    return FIXED_TIME_LAYOUT.pack(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
        NO_DATA if value is None else value,
    )  # fmt: skip
