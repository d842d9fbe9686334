"""PostgreSQL store: the registry (customers, devices, meters) and the certificates
issued to devices.

Identifiers are text in the "C" collation, so that lists come back ordered by id as
Python (and the SQLite store) order them, whatever the database's locale. Meters are
numbered 1, 2, ... in the order first registered (``meters.key``); ``save_meters`` takes
a transaction-scoped advisory lock before it numbers any, so that numbers are given
without gaps and become visible in order: a watermark never misses a meter whose lower
number commits later.
A certificate's serial has up to 160 bits: it is kept as NUMERIC(49,0).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import astuple, fields
from enum import Enum
from functools import cache
from typing import Any

import psycopg

from kenshin.adapters import store_rows
from kenshin.adapters.postgres_part import PgPart, connection, wrapped
from kenshin.domain.devices import MAX_SERIAL, DeviceCertificate
from kenshin.domain.model import (
    Customer,
    Device,
    Meter,
    MeterSpec,
    Watermark,
)
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError

SCHEMA = """
    CREATE TABLE customers (
        id TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, timezone TEXT NOT NULL,
        encoding TEXT NOT NULL, layout TEXT NOT NULL, labels TEXT NOT NULL,
        decimals INTEGER NOT NULL, file_pattern TEXT NOT NULL, slot_labels TEXT NOT NULL,
        flags TEXT NOT NULL);
    CREATE TABLE devices (
        id TEXT COLLATE "C" PRIMARY KEY,
        customer TEXT COLLATE "C" NOT NULL REFERENCES customers);
    CREATE INDEX devices_customer ON devices (customer);
    -- No foreign key on device: a meter may be registered before its device is.
    -- key: the meters' numbers in the order first registered (Watermark.meter).
    CREATE TABLE meters (
        id TEXT COLLATE "C" PRIMARY KEY,
        key BIGINT NOT NULL UNIQUE,
        device TEXT COLLATE "C" NOT NULL, unit_mwh BIGINT NOT NULL,
        coefficient BIGINT NOT NULL, digits INTEGER NOT NULL, max_demand_w BIGINT,
        reverse BOOLEAN NOT NULL DEFAULT false, installed_at BIGINT, removed_at BIGINT,
        removal_by_operator BOOLEAN NOT NULL DEFAULT false);
    CREATE INDEX meters_device ON meters (device);
    CREATE TABLE certificates (
        serial NUMERIC(49, 0) PRIMARY KEY CHECK (serial > 0),
        device TEXT COLLATE "C" NOT NULL REFERENCES devices,
        not_after BIGINT NOT NULL, issued_at BIGINT NOT NULL, revoked_at BIGINT);
    CREATE INDEX certificates_device ON certificates (device, issued_at);
    CREATE INDEX certificates_revoked ON certificates (revoked_at)
        WHERE revoked_at IS NOT NULL;
"""

# The advisory lock save_meters takes: meter numbers become visible in order.
METERS_LOCK = 0x6B656E7368696E01  # "kenshin" + 1
# The advisory lock of changing_meters, held by a session across several calls.
CHANGING_LOCK = 0x6B656E7368696E03  # "kenshin" + 3
_CUSTOMER_COLUMNS = ", ".join(f.name for f in fields(Customer))
_MARKS = ", ".join(["%s"] * len(fields(Customer)))
_METERS = (
    "SELECT m.id, m.device, m.unit_mwh, m.coefficient, m.digits, m.max_demand_w, m.reverse,"
    " m.installed_at, m.removed_at, m.removal_by_operator FROM meters m"
)
_SAVE_METERS = (
    "INSERT INTO meters (key, id, device, unit_mwh, coefficient, digits, max_demand_w,"
    " reverse, installed_at, removed_at) VALUES ((SELECT coalesce(max(key), 0) + 1 FROM meters),"
    " %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
    " device = excluded.device, unit_mwh = excluded.unit_mwh,"
    " coefficient = excluded.coefficient, digits = excluded.digits,"
    " max_demand_w = coalesce(excluded.max_demand_w, meters.max_demand_w),"
    " reverse = meters.reverse OR excluded.reverse"
)
_SET_SERVICE = (
    "UPDATE meters SET installed_at = %s, removed_at = %s,"
    " removal_by_operator = coalesce(%s::boolean, removal_by_operator) AND %s WHERE id = %s"
)
_CERTIFICATES = "SELECT device, serial, not_after, issued_at, revoked_at FROM certificates"


def _customer_row(customer: Customer) -> tuple[object, ...]:
    """The customer's columns, its enumerations as their text."""
    return tuple(v.value if isinstance(v, Enum) else v for v in astuple(customer))


def _exists(db: psycopg.Connection[Any], table: str, key: str) -> bool:
    sql = f"SELECT 1 FROM {table} WHERE id = %s"  # noqa: S608 - our own table names
    return db.execute(sql, (key,)).fetchone() is not None


def _meters(
    db: psycopg.Connection[Any],
    which: tuple[str | None, str | None, str | None, int | None],
) -> list[Meter]:
    """Registered meters ordered by id; ``which`` is (customer, device, meter id, highest
    number), each narrowing the list when given."""
    customer_id, device_id, meter_id, upto = which
    sql, where, args = _METERS, [], list[str | int]()
    if meter_id is not None:
        where.append("m.id = %s")
        args.append(meter_id)
    if device_id is not None:
        where.append("m.device = %s")
        args.append(device_id)
    if customer_id is not None:
        sql += " JOIN devices d ON d.id = m.device"
        where.append("d.customer = %s")
        args.append(customer_id)
    if upto is not None:
        where.append("m.key <= %s")
        args.append(upto)
    if where:
        sql += " WHERE " + " AND ".join(where)
    spec = cache(MeterSpec)  # one object per distinct spec, not one per meter
    rows = db.execute(sql + " ORDER BY m.id", args).fetchall()  # at once: faster than by row
    return [
        Meter(i, d, spec(u, c, g), x, r, fitted, removed, o)
        for i, d, u, c, g, x, r, fitted, removed, o in rows
    ]


class PgRegistry(PgPart):
    """The Registry port: customers, devices and meters."""

    def add_customer(self, customer: Customer) -> None:
        """Add a customer; AlreadyExistsError if the id is taken."""
        sql = (
            f"INSERT INTO customers ({_CUSTOMER_COLUMNS}) VALUES ({_MARKS})"  # noqa: S608
            " ON CONFLICT (id) DO NOTHING"
        )
        with self._using(f"adding customer {customer.id!r}") as db:
            if db.execute(sql, _customer_row(customer)).rowcount == 0:
                raise AlreadyExistsError(f"customer {customer.id!r} exists already")

    def update_customer(self, customer: Customer) -> None:
        """Replace a customer's name and settings; NotFoundError for an unknown customer."""
        sql = f"UPDATE customers SET ({_CUSTOMER_COLUMNS}) = ({_MARKS}) WHERE id = %s"  # noqa: S608
        args = (*_customer_row(customer), customer.id)
        with self._using(f"changing customer {customer.id!r}") as db:
            if db.execute(sql, args).rowcount == 0:
                raise NotFoundError(f"customer {customer.id!r} does not exist")

    def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        sql = f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id = %s"  # noqa: S608
        rows = self._rows("reading customers", sql, (customer_id,))
        return store_rows.customer(rows[0]) if rows else None

    def list_customers(self) -> list[Customer]:
        """All customers ordered by id."""
        sql = f"SELECT {_CUSTOMER_COLUMNS} FROM customers ORDER BY id"  # noqa: S608
        return [store_rows.customer(r) for r in self._rows("reading customers", sql)]

    def add_device(self, device: Device) -> None:
        """Add a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""
        sql = "INSERT INTO devices VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"
        with self._using(f"adding device {device.id!r}") as db:
            if not _exists(db, "customers", device.customer):
                raise NotFoundError(f"customer {device.customer!r} does not exist")
            if db.execute(sql, (device.id, device.customer)).rowcount == 0:
                raise AlreadyExistsError(f"device {device.id!r} exists already")

    def get_device(self, device_id: str) -> Device | None:
        """The device, or None."""
        rows = self._rows(
            "reading a device", "SELECT id, customer FROM devices WHERE id = %s", (device_id,)
        )
        return Device(*rows[0]) if rows else None

    def list_devices(self, customer_id: str | None = None) -> list[Device]:
        """Devices ordered by id, optionally of one customer."""
        sql = "SELECT id, customer FROM devices"
        args: tuple[str, ...] = ()
        if customer_id is not None:
            sql, args = f"{sql} WHERE customer = %s", (customer_id,)
        return [Device(*r) for r in self._rows("listing devices", f"{sql} ORDER BY id", args)]

    def move_device(self, device_id: str, customer_id: str) -> None:
        """Make the device (and so its meters) the customer's; NotFoundError for an unknown
        device or customer."""
        sql = "UPDATE devices SET customer = %s WHERE id = %s"
        with self._using(f"moving device {device_id!r}") as db:
            if not _exists(db, "customers", customer_id):
                raise NotFoundError(f"customer {customer_id!r} does not exist")
            if db.execute(sql, (customer_id, device_id)).rowcount == 0:
                raise NotFoundError(f"device {device_id!r} does not exist")

    def save_meters(self, meters: Iterable[Meter]) -> None:
        """Insert meters with their time in service, or update their device and spec if they
        exist; a maximum demand or reverse register known before stays unless the new meter
        gives one."""
        rows = list(map(store_rows.meter_row, meters))
        if not rows:
            return
        with self._using("saving meters") as db:
            # The next number is the highest + 1: the next save waits for this one's commit.
            db.execute("SELECT pg_advisory_xact_lock(%s)", (METERS_LOCK,))
            db.cursor().executemany(_SAVE_METERS, rows)

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
        ids = [meter_id for meter_id, _, _ in spans]
        sql = "SELECT id FROM meters WHERE id = ANY(%s)"
        rows = [
            (fitted, removed, by_operator, removed is not None, meter)
            for meter, fitted, removed in spans
        ]
        with self._using("recording meters' time in service") as db:
            known = {r[0] for r in db.execute(sql, (ids,))}
            missing = next((i for i in ids if i not in known), None)
            if missing is not None:
                raise NotFoundError(f"meter {missing!r} does not exist")
            db.cursor().executemany(_SET_SERVICE, rows)

    @contextmanager
    def changing_meters(self) -> Iterator[bool]:
        """A session-level advisory lock on a connection of its own, held while the caller
        reads and writes meters on others; a connection cut meanwhile lets go of it. Every
        process of the cluster changes meters: what was read before may be out of date."""
        what = "taking the lock of meters' changes"
        with wrapped(what, self._where), connection(self._pool, what) as db:
            db.execute("SELECT pg_advisory_lock(%s)", (CHANGING_LOCK,))
            db.commit()
            try:
                yield True
            finally:
                with suppress(psycopg.Error):  # cut: the server let go of it with the session
                    db.execute("SELECT pg_advisory_unlock(%s)", (CHANGING_LOCK,))
                    db.commit()

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""
        with self._using("reading a meter") as db:
            found = _meters(db, (None, None, meter_id, None))
        return next(iter(found), None)

    def list_meters(
        self,
        customer_id: str | None = None,
        *,
        device_id: str | None = None,
        as_of: Watermark | None = None,
    ) -> list[Meter]:
        """Meters ordered by id, optionally of one customer (through their devices) or of
        one device; with ``as_of``, those whose number it reaches."""
        upto = None if as_of is None else as_of.meter
        with self._using("reading meters") as db:
            return _meters(db, (customer_id, device_id, None, upto))

    def last_meter(self) -> int:
        """The newest meter's number (0 if none): numbers rise in the order first registered."""
        found = self._rows("reading the newest meter", "SELECT coalesce(max(key), 0) FROM meters")
        return int(found[0][0])


def check_serial(serial: int) -> None:
    """StoreError unless ``serial`` is one a certificate can have (1..2**160-1)."""
    if not 0 < serial <= MAX_SERIAL:
        raise StoreError(f"PostgreSQL store: serial {serial} is outside 1..2**160-1")


def _certificates(rows: Iterable[Sequence[Any]]) -> list[DeviceCertificate]:
    return [DeviceCertificate(d, int(s), n, i, r) for d, s, n, i, r in rows]


class PgCertificates(PgPart):
    """The Certificates port: client certificates issued to devices, and revocations."""

    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device; NotFoundError for an unknown device,
        AlreadyExistsError for a serial recorded already, StoreError for a serial outside
        1..MAX_SERIAL."""
        check_serial(serial)
        sql = (
            "INSERT INTO certificates VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (serial) DO NOTHING"
        )
        with self._using(f"recording certificate {serial:x}") as db:
            if not _exists(db, "devices", device_id):
                raise NotFoundError(f"device {device_id!r} does not exist")
            if db.execute(sql, (serial, device_id, not_after, issued_at)).rowcount == 0:
                raise AlreadyExistsError(f"certificate serial {serial:x} is recorded already")

    def get_certificate(self, serial: int) -> DeviceCertificate | None:
        """The certificate with this serial, or None if none was recorded."""
        if not 0 < serial <= MAX_SERIAL:
            return None  # none can have been recorded
        rows = self._rows("reading certificates", f"{_CERTIFICATES} WHERE serial = %s", (serial,))
        return next(iter(_certificates(rows)), None)

    def list_certificates(self, device_id: str | None = None) -> list[DeviceCertificate]:
        """Certificates by device, then oldest issued first (then by serial); optionally
        of one device."""
        sql, args = _CERTIFICATES, tuple[str, ...]()
        if device_id is not None:
            sql, args = f"{sql} WHERE device = %s", (device_id,)
        sql += " ORDER BY device, issued_at, serial"
        return _certificates(self._rows("reading certificates", sql, args))

    def revoke_device(self, device_id: str, at: int) -> int:
        """Revoke, as of ``at``, every certificate of the device not revoked yet; how many.
        NotFoundError for an unknown device."""
        sql = "UPDATE certificates SET revoked_at = %s WHERE device = %s AND revoked_at IS NULL"
        with self._using(f"revoking the certificates of {device_id!r}") as db:
            if not _exists(db, "devices", device_id):
                raise NotFoundError(f"device {device_id!r} does not exist")
            return db.execute(sql, (at, device_id)).rowcount

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked (False if never recorded)."""
        if not 0 < serial <= MAX_SERIAL:
            return False
        sql = "SELECT 1 FROM certificates WHERE serial = %s AND revoked_at IS NOT NULL"
        return bool(self._rows("checking a certificate", sql, (serial,)))

    def revoked_serials(self, since: int | None = None) -> set[int]:
        """Serials revoked at or after ``since`` (UTC epoch s), or every revoked one."""
        sql = "SELECT serial FROM certificates WHERE revoked_at IS NOT NULL"
        args: tuple[int, ...] = ()
        if since is not None:
            sql, args = f"{sql} AND revoked_at >= %s", (since,)
        return {int(s) for (s,) in self._rows("listing revocations", sql, args)}
