"""The in-memory registry: customers, devices and meters, the certificates issued to
devices and the commands queued for them, in dictionaries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from kenshin.domain.devices import COMMAND_NAME, MAX_SERIAL, Command, DeviceCertificate
from kenshin.domain.model import Customer, Device, Meter, Watermark
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError

HasDevice = Callable[[str], bool]


class MemoryRegistry:
    """The Registry port in dictionaries; meters numbered in the order first registered."""

    def __init__(self) -> None:
        self._customers: dict[str, Customer] = {}
        self._devices: dict[str, Device] = {}
        self._meters: dict[str, Meter] = {}
        self._changing = threading.RLock()
        self._device_meters: dict[str, set[str]] = {}  # device -> its meters' ids
        self._meter_order: dict[str, int] = {}  # meter -> 1, 2, ... in the order first seen

    def has_device(self, device_id: str) -> bool:
        """Whether the device is registered (for the certificates and commands kept beside)."""
        return device_id in self._devices

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
        """Insert meters, or update their device and spec if they exist (a meter inserted
        takes its time in service as given; an existing one's is set by ``set_service``)."""
        for meter in meters:
            self._meter_order.setdefault(meter.id, len(self._meter_order) + 1)
            old = self._meters.get(meter.id)
            if old is not None:
                meter = meter.saved_again(old)
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

    @contextmanager
    def changing_meters(self) -> Iterator[bool]:
        """The lock of meters' changes: this process is the only one."""
        with self._changing:
            yield False

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""
        return self._meters.get(meter_id)

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
                result.append(meter)
        return result

    def last_meter(self) -> int:
        """How many meters were registered: the newest one's number."""
        return len(self._meter_order)


class MemoryCertificates:
    """The Certificates port in a dictionary; ``has_device`` says which devices exist."""

    def __init__(self, has_device: HasDevice) -> None:
        self._has_device = has_device
        self._certificates: dict[int, DeviceCertificate] = {}  # by serial

    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device."""
        if not 0 < serial <= MAX_SERIAL:
            raise StoreError(f"memory store: serial {serial} is outside 1..2**160-1")
        if not self._has_device(device_id):
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
        if not self._has_device(device_id):
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


class MemoryCommands:
    """The CommandQueue port in a dictionary; ``has_device`` says which devices exist."""

    def __init__(self, has_device: HasDevice) -> None:
        self._has_device = has_device
        self._commands: dict[int, Command] = {}  # by id, which rises: oldest first

    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device; its id."""
        if not COMMAND_NAME.fullmatch(name):
            raise StoreError(f"memory store: {name!r} is no command name")
        if not self._has_device(device_id):
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
