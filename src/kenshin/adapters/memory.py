"""In-memory store: backs unit tests and short-lived runs; same contract as every store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date

import numpy as np

from kenshin.adapters.memory_alerts import MemoryAlerts
from kenshin.adapters.memory_delivery import MemoryDeliveries
from kenshin.adapters.memory_units import MemoryUnitClocks
from kenshin.domain.intervals import NO_REGISTER, Registers, registers_at
from kenshin.domain.model import (
    Conflict,
    Customer,
    DeadLetter,
    Device,
    FileRevision,
    Meter,
    Reading,
    StoreResult,
    Watermark,
)
from kenshin.domain.readings import check_registers, conflict_of, merge_reading
from kenshin.domain.slots import DaySlots
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError
from kenshin.ports import COMMAND_NAME, MAX_SERIAL, Command, DeviceCertificate

_DAY_S = 86_400


class MemoryStore:
    """A Store kept in dictionaries."""

    def __init__(self) -> None:
        self._customers: dict[str, Customer] = {}
        self._devices: dict[str, Device] = {}
        self._meters: dict[str, Meter] = {}
        self._device_meters: dict[str, set[str]] = {}  # device -> its meters' ids
        self._readings: dict[str, dict[int, Reading]] = {}
        self._batches = 0  # batches stored so far: the number of the last one
        self._batch_of: dict[tuple[str, int], int] = {}  # (meter, t) -> batch that stored it
        self._day_batch: dict[int, int] = {}  # UTC day -> newest batch that changed a reading
        self._meter_order: dict[str, int] = {}  # meter -> 1, 2, ... in the order first seen
        self._conflicts: list[Conflict] = []
        self._conflict_batch: dict[tuple[object, ...], int] = {}
        self._dead: list[DeadLetter] = []
        self._reverse: set[str] = set()  # meters that reported a reverse register
        self._revisions: dict[tuple[str, str], list[FileRevision]] = {}
        self._certificates: dict[int, DeviceCertificate] = {}  # by serial
        self._commands: dict[int, Command] = {}  # by id, which rises: oldest first
        self.deliveries = MemoryDeliveries(lambda customer: customer in self._customers)
        self.alerts = MemoryAlerts()
        self.unit_clocks = MemoryUnitClocks()

    # registry
    def add_customer(self, customer: Customer) -> None:
        """Add a customer; AlreadyExistsError if the id is taken."""
        if customer.id in self._customers:
            raise AlreadyExistsError(f"customer {customer.id!r} exists already")
        self._customers[customer.id] = customer

    def update_customer(self, customer: Customer) -> None:
        """Replace a customer's name and settings; NotFoundError for an unknown customer."""
        if customer.id not in self._customers:
            raise NotFoundError(f"customer {customer.id!r} does not exist")
        self._customers[customer.id] = customer

    def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        return self._customers.get(customer_id)

    def list_customers(self) -> list[Customer]:
        """All customers ordered by id."""
        return [self._customers[k] for k in sorted(self._customers)]

    def add_device(self, device: Device) -> None:
        """Add a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""
        if device.customer not in self._customers:
            raise NotFoundError(f"customer {device.customer!r} does not exist")
        if device.id in self._devices:
            raise AlreadyExistsError(f"device {device.id!r} exists already")
        self._devices[device.id] = device

    def move_device(self, device_id: str, customer_id: str) -> None:
        """Make the device (and so its meters) the customer's; NotFoundError for an unknown
        device or customer."""
        if customer_id not in self._customers:
            raise NotFoundError(f"customer {customer_id!r} does not exist")
        if device_id not in self._devices:
            raise NotFoundError(f"device {device_id!r} does not exist")
        self._devices[device_id] = Device(device_id, customer_id)

    def get_device(self, device_id: str) -> Device | None:
        """The device, or None."""
        return self._devices.get(device_id)

    def list_devices(self, customer_id: str | None = None) -> list[Device]:
        """Devices ordered by id, optionally of one customer."""
        return [
            self._devices[k]
            for k in sorted(self._devices)
            if customer_id is None or self._devices[k].customer == customer_id
        ]

    def save_meters(self, meters: Iterable[Meter]) -> None:
        """Insert meters, or update their device and spec if they exist (their time in
        service is set by ``set_service`` only)."""
        for meter in meters:
            self._meter_order.setdefault(meter.id, len(self._meter_order) + 1)
            old = self._meters.get(meter.id)
            meter = replace(meter, installed_at=None, removed_at=None)
            if old is not None:
                meter = replace(
                    meter,
                    max_demand_w=old.max_demand_w
                    if meter.max_demand_w is None
                    else meter.max_demand_w,
                    reverse=meter.reverse or old.reverse,
                    installed_at=old.installed_at,
                    removed_at=old.removed_at,
                    removal_by_operator=old.removal_by_operator,
                )
                if old.device != meter.device:
                    self._device_meters[old.device].discard(meter.id)
            self._meters[meter.id] = meter
            self._device_meters.setdefault(meter.device, set()).add(meter.id)

    def set_service(
        self,
        spans: Sequence[tuple[str, int | None, int | None]],
        *,
        by_operator: bool | None = None,
    ) -> None:
        """Set (meter, installed_at, removed_at) of each meter, as given, and whether an
        operator set the removal (None: as it was)."""
        for meter_id, _, _ in spans:
            if meter_id not in self._meters:
                raise NotFoundError(f"meter {meter_id!r} does not exist")
        for meter_id, fitted, removed in spans:
            meter = self._meters[meter_id]
            operator = meter.removal_by_operator if by_operator is None else by_operator
            self._meters[meter_id] = replace(
                meter,
                installed_at=fitted,
                removed_at=removed,
                removal_by_operator=operator and removed is not None,
            )

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""
        meter = self._meters.get(meter_id)
        return None if meter is None else self._seen(meter)

    def _seen(self, meter: Meter) -> Meter:
        """The meter with what its readings told about it."""
        if meter.id in self._reverse and not meter.reverse:
            return replace(meter, reverse=True)
        return meter

    def list_meters(
        self,
        customer_id: str | None = None,
        *,
        device_id: str | None = None,
        as_of: Watermark | None = None,
    ) -> list[Meter]:
        """Meters ordered by id, optionally of one customer (through their devices) or of
        one device; with ``as_of``, those first seen by then."""
        # A device's own index: ingest asks for one device's meters on every batch.
        keys = sorted(self._meters if device_id is None else self._device_meters.get(device_id, ()))
        if as_of is not None:
            keys = [key for key in keys if self._meter_order[key] <= as_of.meter]
        result = []
        for key in keys:
            meter = self._meters[key]
            device = self._devices.get(meter.device)
            if customer_id is None or (device is not None and device.customer == customer_id):
                result.append(self._seen(meter))
        return result

    # device certificates
    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device."""
        if not 0 < serial <= MAX_SERIAL:
            raise StoreError(f"memory store: serial {serial} is outside 1..2**160-1")
        if device_id not in self._devices:
            raise NotFoundError(f"device {device_id!r} does not exist")
        if serial in self._certificates:
            raise AlreadyExistsError(f"certificate serial {serial:x} is recorded already")
        self._certificates[serial] = DeviceCertificate(device_id, serial, not_after, issued_at)

    def get_certificate(self, serial: int) -> DeviceCertificate | None:
        """The certificate with this serial, or None."""
        return self._certificates.get(serial)

    def list_certificates(self, device_id: str | None = None) -> list[DeviceCertificate]:
        """Certificates by device, then oldest issued first; optionally of one device."""
        return sorted(
            (c for c in self._certificates.values() if device_id in (None, c.device)),
            key=lambda c: (c.device, c.issued_at, c.serial),
        )

    def revoke_device(self, device_id: str, at: int) -> int:
        """Revoke every certificate of the device not revoked yet; how many."""
        if device_id not in self._devices:
            raise NotFoundError(f"device {device_id!r} does not exist")
        live = [c for c in self.list_certificates(device_id) if c.revoked_at is None]
        for cert in live:
            self._certificates[cert.serial] = replace(cert, revoked_at=at)
        return len(live)

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked."""
        cert = self._certificates.get(serial)
        return cert is not None and cert.revoked_at is not None

    def revoked_serials(self, since: int | None = None) -> set[int]:
        """Serials revoked at or after ``since``, or every revoked one."""
        return {
            c.serial
            for c in self._certificates.values()
            if c.revoked_at is not None and (since is None or c.revoked_at >= since)
        }

    # commands to devices
    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device; its id."""
        if not COMMAND_NAME.fullmatch(name):
            raise StoreError(f"memory store: {name!r} is no command name")
        if device_id not in self._devices:
            raise NotFoundError(f"device {device_id!r} does not exist")
        command_id = max(self._commands, default=0) + 1
        body = payload(command_id) if callable(payload) else payload
        self._commands[command_id] = Command(command_id, device_id, name, bytes(body), at)
        return command_id

    def get_command(self, command_id: int) -> Command | None:
        """The command, or None."""
        return self._commands.get(command_id)

    def pending_commands(self, device_id: str) -> list[Command]:
        """The device's commands not acknowledged yet, oldest first."""
        return [c for c in self._commands.values() if c.device == device_id and c.pending]

    def commands_named(self, name: str, since: int) -> list[Command]:
        """Every command called ``name`` added at or after ``since``, oldest first."""
        return [c for c in self._commands.values() if c.name == name and c.created_at >= since]

    def commands_after(self, command_id: int, limit: int = 1000) -> list[Command]:
        """Commands not acknowledged yet with an id above ``command_id``, oldest first."""
        return [c for c in self._commands.values() if c.id > command_id and c.pending][:limit]

    def command_sent(self, command_id: int, at: int) -> None:
        """Count one more sending of the command, at ``at``."""
        command = self._command(command_id)
        self._commands[command_id] = replace(
            command, sent_count=command.sent_count + 1, last_sent_at=at
        )

    def acknowledge_command(self, command_id: int, at: int) -> None:
        """Mark the command acknowledged at ``at``, unless it was already."""
        command = self._command(command_id)
        if command.acknowledged_at is None:
            command = replace(command, acknowledged_at=at)
        if command.sent_count == 0:  # acknowledged, so sent: its sending went unrecorded
            command = replace(command, sent_count=1, last_sent_at=at)
        self._commands[command_id] = command

    def _command(self, command_id: int) -> Command:
        command = self._commands.get(command_id)
        if command is None:
            raise NotFoundError(f"command {command_id} does not exist")
        return command

    # readings
    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch; duplicates change nothing, conflicts are kept aside."""
        try:
            check_registers(readings)
        except ValueError as exc:
            raise StoreError(f"memory store: {exc}") from exc
        stored = duplicates = 0
        conflicts: list[Conflict] = []
        self._batches += 1
        batch = self._batches
        self._reverse.update(r.meter for r in readings if r.rev is not None)
        for reading in readings:
            if reading.fwd is None and reading.rev is None:
                duplicates += 1
                continue
            series = self._readings.setdefault(reading.meter, {})
            old = series.get(reading.t)
            merged = merge_reading(old, reading) if old is not None else None
            if old is None or merged != old:  # new, completed or in conflict
                self._day_batch[reading.t // _DAY_S] = batch
            if old is None:
                series[reading.t] = reading
                self._batch_of[(reading.meter, reading.t)] = batch
                stored += 1
                continue
            if merged is None:
                conflicts.append(conflict_of(old, reading, received_at))
            elif merged == old:
                duplicates += 1
            else:
                series[reading.t] = merged
                stored += 1
        for conflict in conflicts:  # each one once, as in every store
            if _conflict_key(conflict) not in self._conflict_batch:
                self._conflicts.append(conflict)
                self._conflict_batch[_conflict_key(conflict)] = batch
        return StoreResult(stored, duplicates, tuple(conflicts))

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, sorted by t."""
        for meter_id in meter_ids:
            series = self._readings.get(meter_id, {})
            found = [series[t] for t in sorted(series) if start <= t <= end]
            if found:
                yield meter_id, found

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count), NO_REGISTER where none; with
        ``as_of``, of readings of its batch or earlier."""
        slots = DaySlots(date.min, start, count)
        fwd = np.full((len(meter_ids), count + 1), NO_REGISTER, np.uint32)
        rev = fwd.copy()
        for row, meter_id in enumerate(meter_ids):
            found = next(self.readings_between([meter_id], start, slots.end), None)
            readings = [] if found is None else found[1]
            if as_of is not None:
                readings = [r for r in readings if self._batch_of[(r.meter, r.t)] <= as_of.batch]
            if readings:
                fwd[row], rev[row] = registers_at(readings, slots)
        return fwd, rev

    def watermark(self) -> Watermark:
        """The last batch and the number of meters seen."""
        return Watermark(self._batches, len(self._meter_order))

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end; 0 if none."""
        days = range(start // _DAY_S, end // _DAY_S + 1)
        return max((self._day_batch.get(day, 0) for day in days), default=0)

    def compact(self, before: int) -> int:
        """Nothing to do: dictionaries read fast enough."""
        return 0

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""
        wanted = set(meter_ids)
        last = self._batches if as_of is None else as_of.batch
        return sorted(
            {
                (c.meter, c.t)
                for c in self._conflicts
                if c.meter in wanted
                and start <= c.t <= end
                and self._conflict_batch[_conflict_key(c)] <= last
            }
        )

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""
        return self._conflicts[:limit]

    # dead letters
    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons; each one once."""
        for letter in letters:
            if _letter_key(letter) not in map(_letter_key, self._dead):
                self._dead.append(letter)

    def list_dead_letters(self, limit: int = 1000, since: int | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first; with ``since``, those received then or later."""
        return [d for d in self._dead if d.received_at >= (since or 0)][:limit]

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""
        return sum(1 for d in self._dead if d.received_at >= (since or 0))

    # file revisions
    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""
        revisions = self._revisions.get((customer_id, day))
        return revisions[-1] if revisions else None

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision, or replace the newest one with the same number."""
        revisions = self._revisions.setdefault((revision.customer, revision.day), [])
        if revisions and revisions[-1].revision == revision.revision:
            revisions[-1] = revision
        else:
            revisions.append(revision)

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""
        return list(self._revisions.get((customer_id, day), []))

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Always writable: the store is this process's memory."""

    def close(self) -> None:
        """Nothing to release."""


def _conflict_key(c: Conflict) -> tuple[object, ...]:
    return (c.meter, c.t, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev)


def _letter_key(d: DeadLetter) -> tuple[object, ...]:
    return (d.source, d.device, d.reason, d.payload)
