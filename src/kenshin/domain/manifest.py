"""The manifest published beside each customer file: what the file holds and how to check it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from kenshin.domain.slots import iso_utc

MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True, slots=True)
class Manifest:
    """One revision of a customer's day file, as the customer is told about it.

    ``rows`` counts data rows, ``slots`` slot cells (rows of meters and directions
    times the day's slots), ``actual_slots`` those with a measured value (A or Q),
    ``estimated_slots`` those VEE estimated (E). ``changed_slots`` counts the slots this
    revision shows otherwise than the previous one, listed in ``change_record``.
    """

    customer: str
    day: date
    file: str
    revision: int
    status: str
    restated: bool
    rows: int
    slots: int
    actual_slots: int
    estimated_slots: int
    sha256: str
    layout: str
    encoding: str
    timezone: str
    created_at: int
    generator: str
    changed_slots: int = 0
    change_record: str | None = None


def manifest_name(file_name: str) -> str:
    """Name of the manifest published beside ``file_name``."""
    return file_name + MANIFEST_SUFFIX


def completeness(actual: int, slots: int) -> str:
    """Percent of slots with a value, two decimals, rounded half up.

    Only a complete file shows "100.00" and only an empty one "0.00", so that
    rounding never hides a missing slot or a present one.
    """
    if slots <= 0:
        return "0.00"
    hundredths = (actual * 20_000 + slots) // (2 * slots)
    if actual < slots:
        hundredths = min(hundredths, 9_999)
    if actual > 0:
        hundredths = max(hundredths, 1)
    whole, frac = divmod(hundredths, 100)
    return f"{whole}.{frac:02d}"


def manifest_fields(manifest: Manifest) -> dict[str, object]:
    """The manifest as a JSON-ready dict."""
    return {
        "customer": manifest.customer,
        "date": manifest.day.isoformat(),
        "file": manifest.file,
        "revision": manifest.revision,
        "status": manifest.status,
        "restated": manifest.restated,
        "rows": manifest.rows,
        "slots": manifest.slots,
        "actual_slots": manifest.actual_slots,
        "estimated_slots": manifest.estimated_slots,
        "completeness": completeness(manifest.actual_slots, manifest.slots),
        "sha256": manifest.sha256,
        "layout": manifest.layout,
        "encoding": manifest.encoding,
        "timezone": manifest.timezone,
        "created_at": iso_utc(manifest.created_at),
        "generator": manifest.generator,
        "changed_slots": manifest.changed_slots,
        "change_record": manifest.change_record,
    }


def manifest_bytes(manifest: Manifest) -> bytes:
    """The manifest file: UTF-8 JSON, sorted keys, indented, ending in a newline."""
    text = json.dumps(manifest_fields(manifest), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def manifest_day(content: bytes) -> date | None:
    """The day a published manifest describes, or None if it is not a manifest we can read."""
    try:
        fields = json.loads(content)
        return date.fromisoformat(fields["date"])
    except (ValueError, TypeError, KeyError):
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
        return None
