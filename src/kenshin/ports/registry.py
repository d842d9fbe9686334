"""The registry ports: customers, devices and meters; the certificates issued to devices;
the commands queued for them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from kenshin.domain.devices import Command, DeviceCertificate
from kenshin.domain.model import Customer, Device, Meter, Watermark


class Registry(Protocol):
    """Customers, their devices and the meters the devices report.

    Meters are numbered in the order they are first registered: ``last_meter`` is the
    newest number, and ``list_meters(as_of=...)`` leaves out those numbered after the
    watermark's ``meter``. Any backend can keep such a number (a counter).
    """

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
        """Insert meters with their time in service, or update their device and spec if
        they exist (their time in service is then ``set_service``'s)."""

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

    def changing_meters(self) -> AbstractContextManager[bool]:
        """A lock held while meters are registered or their time in service set from what
        the registry holds: one holder at a time among every process of the site, so that
        none that read the meters first writes over what another wrote meanwhile. It gives
        whether other processes change these meters too (then what was read of them
        before taking it may be out of date); False where this process is the only one."""

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

    def last_meter(self) -> int:
        """The number of the newest meter registered (0 if none): meters are numbered in
        the order they were first registered."""


class Certificates(Protocol):
    """The client certificates issued to devices, and their revocations."""

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


class CommandQueue(Protocol):
    """Commands to devices: a queue that another process may add to while the endpoint runs."""

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
