"""What kenshin keeps about devices besides the registry: the client certificates issued
to them and the commands queued for them."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SERIAL = 2**160 - 1  # a certificate serial number has at most 20 bytes (RFC 5280)
# A command's name is the last level of its topic, cmd/kenshin/{device}/{name}.
COMMAND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
DEVICE_VALID_DAYS = 10 * 365 + 2  # a unit's client certificate, unless told otherwise
SERVER_VALID_DAYS = 10 * 365 + 2  # the endpoint's certificate, unless told otherwise


@dataclass(frozen=True, slots=True)
class DeviceCertificate:
    """A client certificate issued to a device: its serial, when it was issued, its last
    valid second and, once revoked, when (UTC epoch s)."""

    device: str
    serial: int
    not_after: int
    issued_at: int
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A command queued for a device, sent on ``cmd/kenshin/{device}/{name}`` until the
    unit acknowledges it: how often it went out, the last time and when it was
    acknowledged (UTC epoch s). Ids rise in the order commands are added."""

    id: int
    device: str
    name: str
    payload: bytes
    created_at: int
    sent_count: int = 0
    last_sent_at: int | None = None
    acknowledged_at: int | None = None

    @property
    def pending(self) -> bool:
        """Whether the unit has not acknowledged it yet."""
        return self.acknowledged_at is None
