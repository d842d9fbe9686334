"""The ports: what the services need from the outside world, as Protocols.

Adapters in ``kenshin.adapters`` implement them; ``bootstrap`` picks which.
Every storage adapter passes the same contract tests (tests/contract).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kenshin.domain.alerts import AlertState, Notification
from kenshin.domain.intervals import Registers
from kenshin.domain.model import (
    Conflict,
    Customer,
    DeadLetter,
    Device,
    FileRevision,
    Meter,
    Reading,
    SecurityEvent,
    StoreResult,
    Watermark,
)
from kenshin.domain.observations import ExportFailure
from kenshin.domain.vee.clock import DriftSpell, UnitClock
from kenshin.errors import KenshinError

MAX_SERIAL = 2**160 - 1  # a certificate serial number has at most 20 bytes (RFC 5280)
# A command's name is the last level of its topic, cmd/kenshin/{device}/{name}.
COMMAND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# A unit's TLS state kept between its wakes: the adapter's own type, opaque to services.
TlsState = TypeVar("TlsState")
TlsState_co = TypeVar("TlsState_co", covariant=True)


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


@dataclass(frozen=True, slots=True)
class Account:
    """How a customer logs in to collect its files (FTPS, SFTP): an argon2 hash of its
    password, its SSH public keys (OpenSSH lines) and the networks it may log in from
    (CIDR; none: any address)."""

    customer: str
    password_hash: str | None = None
    ssh_keys: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnlockRequest:
    """An operator's request to clear a customer's failed logins (those from ``address``
    only, if given) and, once the file servers applied it, when and what they cleared."""

    id: int
    customer: str
    address: str | None
    requested_at: int
    done_at: int | None = None
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """A completed download: which customer took which file (and its revision, if a
    manifest gave one), how many bytes, over which protocol, from where, when (UTC epoch s)."""

    customer: str
    file_name: str
    revision: int | None
    bytes: int
    protocol: str
    address: str
    at: int


class Deliveries(Protocol):
    """Customers' logins to the file servers and the receipts of their downloads."""

    def save_account(self, account: Account) -> None:
        """Create or replace the customer's account; NotFoundError for an unknown customer."""

    def get_account(self, customer_id: str) -> Account | None:
        """The customer's account, or None."""

    def add_receipt(self, receipt: Receipt) -> None:
        """Record a completed download."""

    def list_receipts(
        self, customer_id: str | None = None, since: int | None = None
    ) -> list[Receipt]:
        """Receipts oldest first, optionally of one customer and at or after ``since``."""

    def first_collected(self, customer_id: str, file_name: str, revision: int) -> Receipt | None:
        """The first receipt of the file at ``revision`` or a later one, or None."""

    def request_unlock(self, customer_id: str, address: str | None, at: int) -> int:
        """Record a request to clear the customer's failed logins; its id."""

    def get_unlock(self, request_id: int) -> UnlockRequest | None:
        """The unlock request, or None."""

    def pending_unlocks(self) -> list[UnlockRequest]:
        """The unlock requests not yet applied, oldest first."""

    def finish_unlock(self, request_id: int, cleared: Sequence[str], at: int) -> None:
        """Record that the request was applied at ``at``, and what it cleared."""


class Store(Protocol):
    """Readings, the registry (customers, devices and their certificates, meters), commands
    to devices, dead letters and file revisions.

    Readings are idempotent on (meter, t): the same reading again is a duplicate and
    changes nothing; a reading that fills a register the stored one lacked (fwd or
    rev None) completes it; a different value for a register already stored is a
    Conflict, kept aside and never overwriting the stored reading. A reading with
    neither register carries nothing and counts as a duplicate. Register values are
    0..MAX_REGISTER (domain.energy); a batch with any other value raises StoreError
    and stores nothing.
    """

    # registry
    def add_customer(self, customer: Customer) -> None:
        """Add a customer; AlreadyExistsError if the id is taken."""

    def update_customer(self, customer: Customer) -> None:
        """Replace a customer's name and settings; NotFoundError for an unknown customer."""

    def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""

    def list_customers(self) -> list[Customer]:
        """All customers ordered by id."""

    def add_device(self, device: Device) -> None:
        """Add a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""

    def get_device(self, device_id: str) -> Device | None:
        """The device, or None."""

    def list_devices(self, customer_id: str | None = None) -> list[Device]:
        """Devices ordered by id, optionally of one customer."""

    def move_device(self, device_id: str, customer_id: str) -> None:
        """Make the device (and so its meters) the customer's; NotFoundError for an unknown
        device or customer."""

    def save_meters(self, meters: Iterable[Meter]) -> None:
        """Insert meters, or update their device and spec if they exist."""

    def set_service(
        self,
        spans: Sequence[tuple[str, int | None, int | None]],
        *,
        by_operator: bool | None = None,
    ) -> None:
        """Set each meter's time in service, (meter, installed_at, removed_at), as given:
        None where not known; NotFoundError for a meter not registered. ``by_operator``:
        whether an operator set the removals (``Meter.removal_by_operator``, for those
        with one); None keeps what each meter had."""

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""

    def list_meters(
        self,
        customer_id: str | None = None,
        *,
        device_id: str | None = None,
        as_of: Watermark | None = None,
    ) -> list[Meter]:
        """Meters ordered by id, optionally of one customer (through their devices) or of
        one device; with ``as_of``, only those first seen by then."""

    # device certificates
    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device; NotFoundError for an unknown device,
        AlreadyExistsError for a serial recorded already, StoreError for a serial outside
        1..MAX_SERIAL."""

    def get_certificate(self, serial: int) -> DeviceCertificate | None:
        """The certificate with this serial, or None if none was recorded."""

    def list_certificates(self, device_id: str | None = None) -> list[DeviceCertificate]:
        """Certificates by device, then oldest issued first (then by serial); optionally
        of one device."""

    def revoke_device(self, device_id: str, at: int) -> int:
        """Revoke, as of ``at``, every certificate of the device not revoked yet; how many.
        NotFoundError for an unknown device."""

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked (False if never recorded)."""

    def revoked_serials(self, since: int | None = None) -> set[int]:
        """Serials revoked at or after ``since`` (UTC epoch s), or every revoked one."""

    # commands to devices: a queue that another process may add to while the endpoint runs
    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device as of ``at``; its id, higher than any given before.
        ``payload`` may be a function of that id, for a payload that names its command.
        NotFoundError for an unknown device, StoreError for a name not like COMMAND_NAME."""

    def get_command(self, command_id: int) -> Command | None:
        """The command, or None."""

    def pending_commands(self, device_id: str) -> list[Command]:
        """The device's commands not acknowledged yet, oldest first."""

    def commands_named(self, name: str, since: int) -> list[Command]:
        """Every command called ``name`` added at or after ``since``, acknowledged or
        not, oldest first."""

    def commands_after(self, command_id: int, limit: int = 1000) -> list[Command]:
        """At most ``limit`` commands not acknowledged yet with an id above ``command_id``,
        of any device, oldest first: what was added since the last look."""

    def command_sent(self, command_id: int, at: int) -> None:
        """Count one more sending of the command, at ``at``; NotFoundError for an unknown id."""

    def acknowledge_command(self, command_id: int, at: int) -> None:
        """Mark the command acknowledged at ``at``; the first acknowledgement's time stays.
        A command acknowledged counts as sent at least once (at ``at`` if no sending was
        recorded). NotFoundError for an unknown id."""

    # readings
    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch in one transaction; see the class docstring for the rules."""

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, with them sorted by t."""

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Forward and reverse registers of the listed meters at ``start + i * 1800`` for
        i in 0..count: one row per meter in the order listed (count + 1 columns), with
        NO_REGISTER (domain.intervals) where there is no reading; with ``as_of``, only
        the readings of its batch and earlier ones.

        This is the bulk read of a day's export: it must be fast for 100,000 meters.
        """

    def watermark(self) -> Watermark:
        """How far the store has come: reads ``as_of`` it see what is stored now, and
        never what is stored later."""

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end (epoch s); 0 if none. A final day whose file was made
        as of an older batch may have changed since."""

    def compact(self, before: int) -> int:
        """Make the days that ended at or before ``before`` (UTC epoch s) fast to read
        with ``boundary_registers``; how many days that took. Readings stay as they are,
        and later ones still count. A store that reads fast anyway does nothing.
        """

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""

    # dead letters
    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons."""

    def list_dead_letters(self, limit: int = 1000, since: int | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first; with ``since``, those received then or later."""

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""

    # file revisions
    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision (or a status change of the newest one)."""

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""

    @property
    def deliveries(self) -> Deliveries:
        """Customers' accounts and download receipts, kept in the same backend."""

    @property
    def alerts(self) -> Alerts:
        """Alert state, the notification queue and security events, in the same backend."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """Each unit's last-seen time, clock offset and drift spells, in the same backend."""

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Return if a write could begin now (within ``timeout_s``); StoreError saying why
        not otherwise. Nothing is written: for readiness checks."""

    def close(self) -> None:
        """Release the backend's resources."""


class Outbox(Protocol):
    """Where customer files are published; a client never sees half a file."""

    def publish(self, customer_id: str, name: str, content: bytes) -> None:
        """Write ``content`` under a temporary name, make it durable and rename it into place."""

    def read(self, customer_id: str, name: str) -> bytes | None:
        """The published file's bytes, or None."""

    def list_files(self, customer_id: str) -> list[str]:
        """Names of the customer's published files, sorted."""

    def remove(self, customer_id: str, name: str) -> None:
        """Remove a published file if it exists."""


class UnitConnection(Protocol[TlsState_co]):
    """One wake of a unit at a device endpoint: it connects with the unit's own
    certificate, publishes at QoS 1, waits for every PUBACK and disconnects. UnitError
    when the unit cannot publish at all, WakeFailed when this wake failed (kenshin.errors).
    Then ``published`` counts the PUBLISHes sent, ``connected`` is 1 once the endpoint
    accepted the connection, and ``stalled`` says why what was awaited did not come.
    """

    published: int
    connected: int
    stalled: str

    @property
    def tls(self) -> TlsState_co | None:
        """The TLS state to resume at the unit's next wake, once it was made."""

    def probe(self) -> None:
        """Connect and disconnect; UnitError saying why the endpoint cannot be used."""

    def publish(self, payloads: list[str]) -> list[int]:
        """Publish each payload at QoS 1; the indices of those not acknowledged in time."""


class Units(Protocol[TlsState]):
    """The units of a fleet and the device endpoint they publish to."""

    def check(self, device: str) -> None:
        """UnitError, saying how to make them, if files the unit needs are missing."""

    def open(self, device: str, tls: TlsState | None) -> UnitConnection[TlsState]:
        """A connection for one wake of ``device``, resuming ``tls`` of an earlier wake."""


@dataclass(frozen=True, slots=True)
class Queued:
    """A notification waiting for its channel: ids rise in the order they were queued;
    how often sending failed and the last error."""

    id: int
    channel: str
    notification: Notification
    attempts: int = 0
    last_error: str = ""


class Alerts(Protocol):
    """The state of active alerts, the notification queue of each channel, and the
    security events reported by the endpoint and the file servers."""

    def alert_states(self) -> dict[str, AlertState]:
        """The active alerts' stored states by key."""

    def save_round(
        self,
        states: Sequence[AlertState],
        resolved: Sequence[str],
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """In one transaction: save ``states``, forget the ``resolved`` keys, and queue each
        (channel, notification) of ``outgoing`` in order."""

    def queued(self, channel: str | None = None, limit: int = 1000) -> list[Queued]:
        """At most ``limit`` queued notifications, oldest first, optionally of one channel."""

    def queue_depths(self) -> dict[str, int]:
        """How many notifications wait, by channel (those with any)."""

    def delivered(self, ids: Sequence[int]) -> None:
        """Remove these notifications from the queue: they were sent."""

    def delivery_failed(self, ids: Sequence[int], error: str) -> None:
        """Count one more failed attempt for these notifications; they stay queued."""

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Keep security events."""

    def security_events(self, since: int, limit: int = 10_000) -> list[SecurityEvent]:
        """At most ``limit`` security events at or after ``since``, oldest first."""

    def prune_security_events(self, before: int) -> int:
        """Remove the security events before ``before``; how many."""

    def export_failed(self, failure: ExportFailure) -> None:
        """Record that the customer's export failed; ``since`` stays that of the first
        failure in a row."""

    def export_succeeded(self, customer: str) -> None:
        """Record that the customer's export succeeded: no failure of it stands."""

    def export_failures(self) -> list[ExportFailure]:
        """The customers whose last export failed (by the server or by hand), by customer."""


class ChannelError(KenshinError):
    """An alert channel could not deliver a message; it stays queued."""


class AlertChannel(Protocol):
    """Somewhere alert notifications go: an email address, a Slack channel, a webhook."""

    @property
    def name(self) -> str:
        """The channel's name in the configuration, which routing rules refer to."""

    def send(self, notes: Sequence[Notification]) -> None:
        """Deliver the notifications as one message; ChannelError saying why it failed."""


class UnitClocks(Protocol):
    """Each unit's clock as its messages tell it (``domain.vee.clock``): when it was last
    heard, its offset, and the spells in which it drifted beyond the limit."""

    def clocks(self, devices: Iterable[str]) -> dict[str, UnitClock]:
        """The stored clocks of those of ``devices`` ever heard, by device."""

    def record(self, clocks: Sequence[UnitClock], spells: Sequence[DriftSpell]) -> None:
        """In one transaction: save ``clocks`` (one per device, replacing what was stored)
        and ``spells``, each replacing the stored spell of its device and start."""

    def last_seen(self) -> dict[str, int]:
        """When each unit ever heard was last heard (UTC epoch s), by device."""

    def save_status(self, device: str, at: int, payload: bytes) -> None:
        """Keep ``payload`` as the last status message of ``device``, received at ``at``."""

    def save_statuses(self, statuses: Mapping[str, tuple[int, bytes]]) -> None:
        """In one transaction: keep each (received at, payload) of ``statuses`` as the last
        status message of its device."""

    def statuses(self) -> dict[str, tuple[int, bytes]]:
        """The last status message of each unit that sent one, and when it came, by device."""

    def drift_spells(
        self, start: int, end: int, devices: Sequence[str] | None = None
    ) -> list[DriftSpell]:
        """The drift spells covering any of [start, end), optionally of ``devices`` only,
        by device then start."""
