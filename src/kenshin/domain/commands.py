"""Commands to units: their topics and payloads (see docs/wire-contract.md)."""

from __future__ import annotations

import json
from datetime import datetime

from kenshin.domain.slots import iso_utc

RESEND = "resend"  # send again the readings of a time range


def command_topic(device: str, name: str) -> str:
    """The topic a unit receives its command ``name`` on."""
    return f"cmd/kenshin/{device}/{name}"


def resend_payload(command_id: int, start: int, end: int) -> bytes:
    """The payload of ``resend`` command ``command_id``: send again the readings from
    ``start`` to ``end`` (UTC epoch s)."""
    body = {"v": 1, "command": RESEND, "id": command_id, "from": iso_utc(start), "to": iso_utc(end)}
    return json.dumps(body, separators=(",", ":")).encode()


def resend_range(payload: bytes) -> tuple[int, int] | None:
    """The (from, to) of a resend payload as UTC epoch seconds, or None if it has none."""
    try:
        body = json.loads(payload)
        start, end = (datetime.fromisoformat(body[key]).timestamp() for key in ("from", "to"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return int(start), int(end)
