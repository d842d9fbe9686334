"""Units spread over the half hour: each unit's reporting offset, from its id alone.

A unit reports each half hour's reading ``report_offset_s`` seconds past the boundary
instead of at :00 and :30, so that a large fleet's messages come evenly over the half
hour. The offset is a hash of the device id, so every server process (and a unit that
cannot be told, see docs/wire-contract.md) finds the same one without storing it:
the first 8 bytes of BLAKE2b (8-byte digest) of the id's UTF-8, big-endian, modulo the
spread window.
"""

from __future__ import annotations

import hashlib

from kenshin.domain.slots import SLOT_SECONDS

OFFSET_PROPERTY = "report-offset-s"  # the MQTT 5 user property of CONNACK that carries it
FULL_SPREAD_S = SLOT_SECONDS  # the whole half hour


def report_offset_s(device: str, window_s: int = FULL_SPREAD_S) -> int:
    """Seconds past each half-hour boundary at which ``device`` reports: 0..window_s-1,
    even over the window across ids; 0 for every unit when ``window_s`` is 0."""
    if not 0 <= window_s <= FULL_SPREAD_S:
        raise ValueError(f"the spread window is 0..{FULL_SPREAD_S} s, not {window_s}")
    if window_s == 0:
        return 0
    digest = hashlib.blake2b(device.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % window_s
