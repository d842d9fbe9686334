"""The JSON v1 readings message decoded on the hot path: msgspec parses and type-checks it
in C into Structs, then the contract's remaining checks run on typed fields.

``domain.readings_json`` stays the contract: its decoder is the reference, and it alone
words every dead letter. This one decodes only what it can vouch for (a message the
reference would take, decoded exactly as the reference decodes it) and hands anything
else to the reference, so a refused message gets the same reason, byte for byte. It
vouches for no message holding a backslash escape, and counts the message's strings
(every key and string value is one pair of quotes) to refuse a repeated key, which
msgspec would take silently with the last value winning.

msgspec lives here and not in the domain, which imports no vendor code.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from kenshin.domain import payloads
from kenshin.domain.energy import MAX_COEFFICIENT, MAX_DIGITS, MIN_DIGITS, UNIT_MWH
from kenshin.domain.model import (
    DEVICE_ID,
    METER_ID,
    DeadLetter,
    DecodedMessage,
    MeterBlock,
    MeterSpec,
    Reading,
)
from kenshin.domain.payload_codec import PayloadCodec, PayloadContext
from kenshin.domain.readings_json import EARLIEST, LATEST, MAX_PAYLOAD_BYTES, decode_readings
from kenshin.errors import KenshinError

MAX_SEQ = 2**63 - 1
_CACHED_TIMES = 4096  # distinct time texts remembered; a fleet's share a few boundaries
_STRINGS_PER_MESSAGE = 7  # v, device, "device", seq, sent, "sent", meters
_STRINGS_PER_METER = 7  # meter, "meter", unit, "unit", coefficient, digits, readings


class _Reading(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    t: str
    fwd: int | msgspec.UnsetType = msgspec.UNSET
    rev: int | msgspec.UnsetType = msgspec.UNSET


class _Meter(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    meter: str
    unit: str
    coefficient: int
    digits: int
    readings: list[_Reading]


class _Message(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    v: int
    device: str
    seq: int
    sent: str
    meters: list[_Meter]


_DECODER = msgspec.json.Decoder(_Message)
_times: dict[str, int] = {}
_specs: dict[tuple[str, int, int], MeterSpec] = {}


class _NotVouched(KenshinError):
    """The message is not one this decoder takes: the reference decodes it."""


def decode_readings_fast(
    payload: bytes, *, source: str, received_at: int
) -> DecodedMessage | DeadLetter:
    """What ``readings_json.decode_readings`` gives for ``payload``, faster."""
    decoded = vouched(payload)
    if decoded is None:
        return decode_readings(payload, source=source, received_at=received_at)
    return decoded


def vouched(payload: bytes) -> DecodedMessage | None:
    """The message decoded as the reference decodes it, or None where this decoder does
    not vouch for it (it may still be a good message: the reference decides)."""
    if len(payload) > MAX_PAYLOAD_BYTES or b"\\" in payload:
        return None
    try:
        return _decoded(payload)
    except (msgspec.MsgspecError, _NotVouched):
        return None


def _decode(payload: bytes, context: PayloadContext) -> DecodedMessage | DeadLetter:
    return decode_readings_fast(payload, source=context.source, received_at=context.received_at)


CODEC = PayloadCodec("readings", _decode)


def _decoded(payload: bytes) -> DecodedMessage:
    message = _DECODER.decode(payload)
    if message.v != 1 or not 0 <= message.seq <= MAX_SEQ or not message.meters:
        raise _NotVouched
    device = message.device
    if not DEVICE_ID.fullmatch(device):
        raise _NotVouched
    sent = _instant(message.sent)
    strings = _STRINGS_PER_MESSAGE
    blocks = []
    meters: set[str] = set()
    for item in message.meters:
        block, count = _block(item, sent)
        if block.meter in meters:
            raise _NotVouched
        meters.add(block.meter)
        blocks.append(block)
        strings += count
    if payload.count(b'"') != 2 * strings:  # a key given twice: msgspec kept the last
        raise _NotVouched
    return DecodedMessage(device, message.seq, sent, tuple(blocks))


def _block(item: _Meter, sent: int) -> tuple[MeterBlock, int]:
    """One meter's block, and how many strings its JSON holds."""
    meter = item.meter
    if not item.readings or not METER_ID.fullmatch(meter):
        raise _NotVouched
    spec = _spec(item.unit, item.coefficient, item.digits)
    top = spec.modulus - 1
    readings = []
    strings = _STRINGS_PER_METER
    last = -1
    ordered = True
    for r in item.readings:
        fwd = None if r.fwd is msgspec.UNSET else r.fwd
        rev = None if r.rev is msgspec.UNSET else r.rev
        if fwd is None:
            if rev is None or not 0 <= rev <= top:
                raise _NotVouched
            strings += 3
        elif rev is None:
            if not 0 <= fwd <= top:
                raise _NotVouched
            strings += 3
        else:
            if not (0 <= fwd <= top and 0 <= rev <= top):
                raise _NotVouched
            strings += 4
        t = _times.get(r.t)
        if t is None:
            t = _instant(r.t)
        ordered = ordered and t > last
        last = t
        readings.append(Reading(meter, t, fwd, rev, sent))
    if not ordered:
        readings = _merge_same_instant(readings)
    return MeterBlock(meter, spec, tuple(readings)), strings


def _spec(unit: str, coefficient: int, digits: int) -> MeterSpec:
    key = (unit, coefficient, digits)
    spec = _specs.get(key)
    if spec is None:
        if (
            unit not in UNIT_MWH
            or not 1 <= coefficient <= MAX_COEFFICIENT
            or not MIN_DIGITS <= digits <= MAX_DIGITS
        ):
            raise _NotVouched
        spec = _specs[key] = MeterSpec(UNIT_MWH[unit], coefficient, digits)
    return spec


def _instant(text: str) -> int:
    """The UTC epoch second of a time text that ``readings_json`` takes."""
    instant = _times.get(text)
    if instant is not None:
        return instant
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _NotVouched from exc
    if moment.tzinfo is None or moment.utcoffset() is None or moment.microsecond:
        raise _NotVouched
    instant = int(moment.timestamp())
    if not EARLIEST <= instant < LATEST:
        raise _NotVouched
    if len(_times) >= _CACHED_TIMES:
        _times.clear()
    _times[text] = instant
    return instant


def _merge_same_instant(readings: list[Reading]) -> list[Reading]:
    by_time: dict[int, Reading] = {}
    for reading in readings:
        old = by_time.get(reading.t)
        if old is not None and old != reading:
            raise _NotVouched
        by_time[reading.t] = reading
    return [by_time[t] for t in sorted(by_time)]


# The codecs ingest decodes with: the domain's, the readings one replaced by this one.
CODECS: dict[str, PayloadCodec] = {**payloads.CODECS, CODEC.suffix: CODEC}
