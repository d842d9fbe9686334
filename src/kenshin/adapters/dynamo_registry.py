"""Customers, devices and meters in DynamoDB: the DynamoStore's ``registry`` (its
``certificates`` and ``commands`` are in ``dynamo_certificates`` and ``dynamo_commands``).

Its partitions of the records table:

- ``customer``: a customer per item, ``sk`` its id;
- ``device``: a device per item, ``sk`` its id, with its customer; beside it
  ``customer-devices#`` + a customer's id: that customer's devices (written with the
  device in one transaction);
- meters: see ``dynamo_meters``; and the counter ``METERS``, and ``lock``/``meters``,
  the lock of meters' changes (``dynamo_lock``).

Meters are saved and their time in service set under the lock of meters' changes (taken
for the call where the caller does not hold it): a site's processes (Lambda invocations
ingesting at once) change them one at a time. The counter moves on first, then the new
meters are written with the numbers it gave: a process that fails between the two
leaves numbers unused, never a meter left out of reads as of every later watermark. A
watermark read between them names meters not written yet: a read as of it misses them,
as one made a moment earlier would; their readings come in a batch numbered after it,
so what was made as of it is made again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from enum import Enum

from kenshin.adapters import store_rows
from kenshin.adapters.dynamo_certificates import DynamoCertificates
from kenshin.adapters.dynamo_commands import DynamoCommands
from kenshin.adapters.dynamo_items import (
    CUSTOMER,
    DEVICE,
    counter_key,
    exists,
    key,
    partition,
    put,
    transact,
    written,
)
from kenshin.adapters.dynamo_lock import LeaseLock
from kenshin.adapters.dynamo_meters import METER, MeterChanges, device_meters, meter_of
from kenshin.adapters.dynamo_tables import METERS, DynamoTables, Item
from kenshin.domain.model import Customer, Device, Meter, Watermark
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError

# The store takes its three parts from here.
__all__ = ["DynamoCertificates", "DynamoCommands", "DynamoRegistry"]

CUSTOMER_DEVICES = "customer-devices#"  # + a customer's id: its devices, by id
_MOVE_TRIES = 5  # a device moved by another process meanwhile: read it again
_NEW = "attribute_not_exists(pk)"


class DynamoRegistry:
    """The Registry port in the records table; ``lock``: the lock of meters' changes (a
    LeaseLock named "meters" unless given)."""

    def __init__(self, tables: DynamoTables, lock: LeaseLock | None = None) -> None:
        self._tables = tables
        self._lock = lock if lock is not None else LeaseLock(tables, METERS)
        self._changing = threading.RLock()  # this process's threads, one at a time
        self._holding = False  # whether this process holds the lock (under _changing)

    def add_customer(self, customer: Customer) -> None:
        """Add a customer; AlreadyExistsError if the id is taken."""
        if not self._put_customer(customer, _NEW):
            raise AlreadyExistsError(f"customer {customer.id!r} exists already")

    def update_customer(self, customer: Customer) -> None:
        """Replace a customer's name and settings; NotFoundError for an unknown customer."""
        if not self._put_customer(customer, "attribute_exists(pk)"):
            raise NotFoundError(f"customer {customer.id!r} does not exist")

    def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        item = self._tables.get(self._tables.records, key(CUSTOMER, customer_id))
        return None if item is None else _customer_of(item)

    def list_customers(self) -> list[Customer]:
        """All customers ordered by id."""
        return [_customer_of(item) for item in partition(self._tables, CUSTOMER)]

    def add_device(self, device: Device) -> None:
        """Add a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""
        tables = self._tables
        failed = transact(
            tables,
            [
                exists(tables, CUSTOMER, device.customer),
                put(tables, _device_item(device), _NEW),
                put(tables, key(CUSTOMER_DEVICES + device.customer, device.id)),
            ],
            f"adding device {device.id!r}",
        )
        if failed and failed[0]:
            raise NotFoundError(f"customer {device.customer!r} does not exist")
        if failed:
            raise AlreadyExistsError(f"device {device.id!r} exists already")

    def get_device(self, device_id: str) -> Device | None:
        """The device, or None."""
        item = self._tables.get(self._tables.records, key(DEVICE, device_id))
        return None if item is None else Device(device_id, item["customer"]["S"])

    def list_devices(self, customer_id: str | None = None) -> list[Device]:
        """Devices ordered by id, optionally of one customer."""
        if customer_id is None:
            return [
                Device(i["sk"]["S"], i["customer"]["S"]) for i in partition(self._tables, DEVICE)
            ]
        index = partition(self._tables, CUSTOMER_DEVICES + customer_id)
        return [Device(item["sk"]["S"], customer_id) for item in index]

    def move_device(self, device_id: str, customer_id: str) -> None:
        """Make the device (and so its meters) the customer's; NotFoundError for an unknown
        device or customer."""
        for _ in range(_MOVE_TRIES):
            device = self.get_device(device_id)
            if device is None or device.customer == customer_id:
                if self.get_customer(customer_id) is None:
                    raise NotFoundError(f"customer {customer_id!r} does not exist")
                if device is None:
                    raise NotFoundError(f"device {device_id!r} does not exist")
                return
            failed = transact(self._tables, self._move(device, customer_id), "moving a device")
            if failed and failed[0]:
                raise NotFoundError(f"customer {customer_id!r} does not exist")
            if not failed:
                return
        raise StoreError(f"DynamoDB store: device {device_id!r} kept moving while moved")

    def save_meters(self, meters: Iterable[Meter]) -> None:
        """Insert meters with their time in service, or update their device and spec if they
        exist; a maximum demand or reverse register known before stays unless the new meter
        gives one. New meters are numbered in the order given."""
        given = list(meters)
        if not given:
            return
        with self.changing_meters():
            changes = self._changes({meter.id for meter in given})
            first = changes.last
            changes.save(given)
            self._write(changes, first)

    def set_service(
        self,
        spans: Sequence[tuple[str, int | None, int | None]],
        *,
        by_operator: bool | None = None,
    ) -> None:
        """Set (meter, installed_at, removed_at) of each meter, as given, and whether an
        operator set the removal (None: as it was; never without a removal);
        NotFoundError for a meter not registered."""
        if not spans:
            return
        with self.changing_meters():
            changes = self._changes({meter_id for meter_id, _, _ in spans})
            for meter_id, _, _ in spans:
                if meter_id not in changes.stored:
                    raise NotFoundError(f"meter {meter_id!r} does not exist")
            changes.set_service(spans, by_operator)
            self._write(changes, changes.last)

    @contextmanager
    def changing_meters(self) -> Iterator[bool]:
        """The lock of meters' changes, a lease in the records table (``dynamo_lock``):
        other processes change these meters too. Taken again by its holder, it is held."""
        with self._changing:
            if self._holding:
                yield True
                return
            with self._lock.held():
                self._holding = True
                try:
                    yield True
                finally:
                    self._holding = False

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""
        item = self._tables.get(self._tables.records, key(METER, meter_id))
        return None if item is None else meter_of(item)[0]

    def list_meters(
        self,
        customer_id: str | None = None,
        *,
        device_id: str | None = None,
        as_of: Watermark | None = None,
    ) -> list[Meter]:
        """Meters ordered by id, optionally of one customer (a Query of each of its
        devices' meters) or of one device; with ``as_of``, those numbered by then."""
        if device_id is not None:
            if customer_id is not None and self.get_device(device_id) != Device(
                device_id, customer_id
            ):
                return []
            items = list(partition(self._tables, device_meters(device_id)))
        elif customer_id is not None:
            items = [
                item
                for device in self.list_devices(customer_id)
                for item in partition(self._tables, device_meters(device.id))
            ]
        else:
            items = list(partition(self._tables, METER))
        upto = None if as_of is None else as_of.meter
        found = [meter for meter, place in map(meter_of, items) if upto is None or place <= upto]
        return sorted(found, key=lambda meter: meter.id)

    def last_meter(self) -> int:
        """The newest meter's number (0 if none): numbers rise in the order first registered."""
        return self._tables.number(METERS)

    def _put_customer(self, customer: Customer, condition: str) -> bool:
        """Write the customer's item on ``condition``: whether it held."""
        return written(
            self._tables,
            "put_item",
            TableName=self._tables.records,
            Item=_customer_item(customer),
            ConditionExpression=condition,
        )

    def _move(self, device: Device, customer_id: str) -> list[Item]:
        """The transaction that moves ``device`` to the customer, if still where it was."""
        tables = self._tables
        return [
            exists(tables, CUSTOMER, customer_id),
            {
                "Update": {
                    "TableName": tables.records,
                    "Key": key(DEVICE, device.id),
                    "UpdateExpression": "SET customer = :new",
                    "ConditionExpression": "customer = :old",
                    "ExpressionAttributeValues": {
                        ":new": {"S": customer_id},
                        ":old": {"S": device.customer},
                    },
                }
            },
            {
                "Delete": {
                    "TableName": tables.records,
                    "Key": key(CUSTOMER_DEVICES + device.customer, device.id),
                }
            },
            put(tables, key(CUSTOMER_DEVICES + customer_id, device.id)),
        ]

    def _changes(self, meter_ids: set[str]) -> MeterChanges:
        """The meters ``meter_ids`` as stored, and the newest number given (read after)."""
        keys = [key(METER, meter_id) for meter_id in sorted(meter_ids)]
        stored = map(meter_of, self._tables.get_many(self._tables.records, keys))
        last = self._tables.number(METERS)
        return MeterChanges({meter.id: (meter, place) for meter, place in stored}, last)

    def _write(self, changes: MeterChanges, first: int) -> None:
        """Move the counter from ``first`` to the newest number the meters took, then
        write the meters that changed."""
        self._count(changes, first)
        self._tables.write_many(self._tables.records, changes.puts(), changes.deletes())

    def _count(self, changes: MeterChanges, first: int) -> None:
        """Move the counter from ``first`` to ``changes.last``; StoreError if another
        process moved it meanwhile."""
        if changes.last == first:
            return
        if not written(
            self._tables,
            "update_item",
            TableName=self._tables.records,
            Key=counter_key(METERS),
            UpdateExpression="SET n = :last",
            ConditionExpression="attribute_not_exists(pk) OR n = :first",
            ExpressionAttributeValues={
                ":last": {"N": str(changes.last)},
                ":first": {"N": str(first)},
            },
        ):
            raise StoreError(
                "DynamoDB store: another process numbered meters while this one held the lock"
                " of meters' changes (its lease ran out?): numbers may be given twice"
            )


def _customer_item(customer: Customer) -> Item:
    item = key(CUSTOMER, customer.id)
    for column in fields(Customer)[1:]:
        value = getattr(customer, column.name)
        if isinstance(value, int):
            item[column.name] = {"N": str(value)}
        else:
            item[column.name] = {"S": str(value.value if isinstance(value, Enum) else value)}
    return item


def _customer_of(item: Item) -> Customer:
    row: list[str | int] = [item["sk"]["S"]]
    for column in fields(Customer)[1:]:
        value = item[column.name]
        row.append(int(value["N"]) if "N" in value else value["S"])
    return store_rows.customer(row)


def _device_item(device: Device) -> Item:
    return {**key(DEVICE, device.id), "customer": {"S": device.customer}}
