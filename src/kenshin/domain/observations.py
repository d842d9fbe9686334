"""What the alert rules look at: a snapshot of the server (``Observations``) and the
thresholds they fire at (``Thresholds``). All times are UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kenshin.domain.model import DEFAULT_TIMEZONE, SecurityEvent


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """When a device last reported (None: never), and its customer."""

    device: str
    customer: str
    last_seen: int | None


@dataclass(frozen=True, slots=True)
class ExportFailure:
    """A customer's day file that could not be built or published, since when and why."""

    customer: str
    day: str
    reason: str
    since: int


class UncollectedFile(Protocol):
    """A final file its customer has not collected by ``due_at`` (services.receipts)."""

    @property
    def customer(self) -> str: ...
    @property
    def day(self) -> str: ...
    @property
    def file_name(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def due_at(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """Free and total bytes of the file system holding ``path``."""

    path: str
    free_bytes: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class ComponentDown:
    """A component of the server that is not running, since when and why."""

    name: str
    since: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChannelFailure:
    """An alert channel that fails since ``since``: its last error, how many wait for it."""

    name: str
    reason: str
    since: int
    waiting: int


@dataclass(frozen=True, slots=True)
class CertificateExpiry:
    """When a certificate in use ends: the server's (``customer`` None, ``name`` what
    presents it) or a unit's (``name`` the device id)."""

    name: str
    not_after: int
    customer: str | None = None


@dataclass(frozen=True)
class Observations:
    """What the server sees at ``now``: the input of every rule."""

    now: int
    zone: str = DEFAULT_TIMEZONE  # the site's own time zone
    customer_zones: Mapping[str, str] = field(default_factory=dict)
    devices: Sequence[DeviceSeen] = ()
    dead_letters: int = 0  # kept within the last Thresholds.dead_letter_window_minutes
    last_commit_at: int | None = None
    waiting_messages: int = 0  # received, not committed yet
    waiting_since: int | None = None  # when the oldest of them arrived
    export_failures: Sequence[ExportFailure] = ()
    uncollected: Sequence[UncollectedFile] = ()
    security_events: Sequence[SecurityEvent] = ()  # within Thresholds.security_window_minutes
    disks: Sequence[DiskSpace] = ()
    down: Sequence[ComponentDown] = ()
    channels_failing: Sequence[ChannelFailure] = ()
    certificates: Sequence[CertificateExpiry] = ()  # the server's, and each unit's valid one

    def zone_of(self, customer: str | None) -> str:
        """The customer's time zone, or the site's."""
        return self.customer_zones.get(customer or "", self.zone)


@dataclass(frozen=True)
class Thresholds:
    """When the rules fire."""

    silent_hours: float = 6.0
    silent_hours_by_customer: Mapping[str, float] = field(default_factory=dict)
    dead_letters: int = 10  # more than this many within the window fires
    dead_letter_window_minutes: int = 60
    ingest_stall_minutes: int = 10
    disk_min_free_bytes: int = 1 << 30
    disk_min_free_percent: float = 5.0
    security_window_minutes: int = 60
    certificate_expiry_days: int = 30  # warn this long before a certificate ends
