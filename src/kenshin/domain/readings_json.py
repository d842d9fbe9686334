"""The JSON readings message, version 1 (the wire contract), decoded with strict validation.

Anything that does not decode becomes a DeadLetter whose reason names the field,
what was expected and what was found. Decoding never raises.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

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
from kenshin.errors import PayloadError

MAX_PAYLOAD_BYTES = 128 * 1024
MAX_REASON_CHARS = 500
# Times outside this window are a broken clock or a corrupt field, never a reading.
EARLIEST = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
LATEST = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
_MESSAGE_KEYS = {"v", "device", "seq", "sent", "meters"}
_METER_KEYS = {"meter", "unit", "coefficient", "digits", "readings"}
_READING_KEYS = {"t", "fwd", "rev"}
_UNITS = ", ".join(UNIT_MWH)


class Invalid(PayloadError):
    """A field of the message is not what the contract says; the text says which and why."""


def decode_readings(
    payload: bytes, *, source: str, received_at: int
) -> DecodedMessage | DeadLetter:
    """Decode a JSON v1 readings message, or explain in a DeadLetter why it is not one."""
    device: str | None = None
    try:
        document = _parse_json(payload)
        device = _device_of(document)
        return _message(document)
    except Invalid as exc:
        return DeadLetter(source, str(exc)[:MAX_REASON_CHARS], payload, received_at, device)


def _decode(payload: bytes, context: PayloadContext) -> DecodedMessage | DeadLetter:
    return decode_readings(payload, source=context.source, received_at=context.received_at)


CODEC = PayloadCodec("readings", _decode)


def _parse_json(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Invalid(f"message is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"message is not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    try:
        document = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_object_without_repeats
        )
    except Invalid:
        raise
    except RecursionError as exc:
        raise Invalid("message is not valid JSON: nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"message is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise Invalid(f"message is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise Invalid(f"message must be a JSON object, got {_kind(document)}")
    return document


def _object_without_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):  # json.loads would keep the last silently
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Invalid(f"message is not valid: the key {key!r:.40} appears twice")
            seen.add(key)
    return document


def _reject_constant(name: str) -> None:
    raise Invalid(f"message is not valid JSON: {name} is not a number JSON allows")


def _device_of(document: dict[str, Any]) -> str | None:
    device = document.get("device")
    return device if isinstance(device, str) and DEVICE_ID.fullmatch(device) else None


def _message(document: dict[str, Any]) -> DecodedMessage:
    _check_keys(document, _MESSAGE_KEYS, "message")
    version = document["v"]
    if type(version) is not int or version != 1:
        raise Invalid(f"v: expected 1 (this server reads version 1 messages), got {version!r}")
    device = _identifier(document["device"], "device", DEVICE_ID)
    seq = _integer(document["seq"], "seq", 0, 2**63 - 1)
    sent = _timestamp(document["sent"], "sent")
    meters = document["meters"]
    if not isinstance(meters, list) or not meters:
        raise Invalid(f"meters: expected a non-empty list, got {_kind(meters)}")
    blocks = tuple(_meter(m, f"meters[{i}]", sent) for i, m in enumerate(meters))
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        if block.meter in seen:
            raise Invalid(f"meters[{i}].meter: {block.meter!r} appears twice in one message")
        seen.add(block.meter)
    return DecodedMessage(device, seq, sent, blocks)


def _meter(item: object, path: str, sent: int) -> MeterBlock:
    if not isinstance(item, dict):
        raise Invalid(f"{path}: expected an object, got {_kind(item)}")
    _check_keys(item, _METER_KEYS, path)
    meter = _identifier(item["meter"], f"{path}.meter", METER_ID)
    unit = item["unit"]
    if not isinstance(unit, str) or unit not in UNIT_MWH:
        raise Invalid(f"{path}.unit: expected one of {_UNITS}, got {unit!r}")
    coefficient = _integer(item["coefficient"], f"{path}.coefficient", 1, MAX_COEFFICIENT)
    digits = _integer(item["digits"], f"{path}.digits", MIN_DIGITS, MAX_DIGITS)
    spec = MeterSpec(UNIT_MWH[unit], coefficient, digits)
    readings = item["readings"]
    if not isinstance(readings, list) or not readings:
        raise Invalid(f"{path}.readings: expected a non-empty list, got {_kind(readings)}")
    parsed = [
        _reading(r, meter, spec, f"{path}.readings[{i}]", sent) for i, r in enumerate(readings)
    ]
    return MeterBlock(meter, spec, tuple(_merge_same_instant(parsed, path)))


def _reading(item: object, meter: str, spec: MeterSpec, path: str, sent: int) -> Reading:
    if not isinstance(item, dict):
        raise Invalid(f"{path}: expected an object, got {_kind(item)}")
    _check_keys(item, _READING_KEYS, path, optional={"fwd", "rev"})
    t = _timestamp(item["t"], f"{path}.t")
    top = spec.modulus - 1
    fwd = _integer(item["fwd"], f"{path}.fwd", 0, top) if "fwd" in item else None
    rev = _integer(item["rev"], f"{path}.rev", 0, top) if "rev" in item else None
    if fwd is None and rev is None:
        raise Invalid(f"{path}: a reading needs fwd, rev or both")
    return Reading(meter, t, fwd, rev, sent)


def _merge_same_instant(readings: list[Reading], path: str) -> list[Reading]:
    by_time: dict[int, Reading] = {}
    for reading in readings:
        old = by_time.get(reading.t)
        if old is not None and old != reading:
            raise Invalid(f"{path}.readings: two different readings for {reading.t} (epoch s)")
        by_time[reading.t] = reading
    return [by_time[t] for t in sorted(by_time)]


def _check_keys(
    item: dict[str, Any], expected: set[str], path: str, optional: set[str] | None = None
) -> None:
    missing = expected - (optional or set()) - item.keys()
    if missing:
        raise Invalid(f"{path}: missing {', '.join(sorted(missing))}")
    unknown = item.keys() - expected
    if unknown:
        names = ", ".join(sorted(repr(k) for k in unknown))
        raise Invalid(
            f"{path}: unknown field {names}; version 1 allows {', '.join(sorted(expected))}"
        )


def _identifier(value: object, path: str, rule: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not rule.fullmatch(value):
        what = (
            "1-64 letters, digits, '.', '_', '-' or ':', starting with a letter or digit"
            if rule is DEVICE_ID
            else "1-64 printable ASCII characters without spaces"
        )
        raise Invalid(f"{path}: expected {what}, got {value!r:.80}")
    return value


def _integer(value: object, path: str, low: int, high: int) -> int:
    # bool is an int in Python but never a register value on the wire.
    if type(value) is not int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            raise Invalid(f"{path}: expected an integer, got the decimal {value!r}")
        raise Invalid(
            f"{path}: expected an integer {low}..{high}, got {_kind(value)} {value!r:.40}"
        )
    if not low <= value <= high:
        raise Invalid(f"{path}: {value} is out of range {low}..{high}")
    return value


def _timestamp(value: object, path: str) -> int:
    if not isinstance(value, str):
        raise Invalid(f"{path}: expected an ISO 8601 time with offset, got {_kind(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{path}: {value!r:.40} is not an ISO 8601 time") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid(f"{path}: {value!r} has no UTC offset; send e.g. 2026-11-26T12:30:00+09:00")
    if moment.microsecond:
        raise Invalid(f"{path}: {value!r} has fractions of a second; readings are whole seconds")
    instant = int(moment.timestamp())
    if not EARLIEST <= instant < LATEST:
        raise Invalid(f"{path}: {value!r} is outside the years 2000-2099")
    return instant


def _kind(value: object) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        float: "a number",
    }
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)
