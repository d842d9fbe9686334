"""The SQLite store's registry: customers, devices and meters, as functions on a connection
and the Registry port that calls them, inside a transaction for writes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, fields
from functools import lru_cache
from pathlib import Path

from kenshin.adapters import store_rows
from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.model import (
    Customer,
    Device,
    Meter,
    MeterSpec,
    Watermark,
)
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError

_CUSTOMER_COLUMNS = ", ".join(f.name for f in fields(Customer))
_MARKS = ", ".join("?" * len(fields(Customer)))
_METERS = (
    "SELECT m.id, m.device, m.unit_mwh, m.coefficient, m.digits, m.max_demand_w, m.reverse,"
    " m.installed_at, m.removed_at, m.removal_by_operator, m.key FROM meters m"
)


def add_customer(db: sqlite3.Connection, customer: Customer) -> None:
    """Insert a customer; AlreadyExistsError if the id is taken."""
    if _exists(db, "customers", customer.id):
        raise AlreadyExistsError(f"customer {customer.id!r} exists already")
    sql = f"INSERT INTO customers ({_CUSTOMER_COLUMNS}) VALUES ({_MARKS})"  # noqa: S608
    db.execute(sql, astuple(customer))


def update_customer(db: sqlite3.Connection, customer: Customer) -> None:
    """Replace a customer's name and settings; NotFoundError for an unknown customer."""
    if not _exists(db, "customers", customer.id):
        raise NotFoundError(f"customer {customer.id!r} does not exist")
    db.execute(
        f"UPDATE customers SET ({_CUSTOMER_COLUMNS}) = ({_MARKS}) WHERE id = ?",  # noqa: S608
        (*astuple(customer), customer.id),
    )


def customers(db: sqlite3.Connection, customer_id: str | None) -> list[Customer]:
    """Customers ordered by id: all, or the one with ``customer_id``."""
    rows = db.execute(
        f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE ?1 IS NULL OR id = ?1 ORDER BY id",  # noqa: S608
        (customer_id,),
    ).fetchall()
    return [store_rows.customer(r) for r in rows]


def add_device(db: sqlite3.Connection, device: Device) -> None:
    """Insert a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""
    if not _exists(db, "customers", device.customer):
        raise NotFoundError(f"customer {device.customer!r} does not exist")
    if _exists(db, "devices", device.id):
        raise AlreadyExistsError(f"device {device.id!r} exists already")
    db.execute("INSERT INTO devices VALUES (?, ?)", (device.id, device.customer))


def move_device(db: sqlite3.Connection, device_id: str, customer_id: str) -> None:
    """Give the device to another customer; NotFoundError for an unknown one of them."""
    if not _exists(db, "customers", customer_id):
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    if not _exists(db, "devices", device_id):
        raise NotFoundError(f"device {device_id!r} does not exist")
    db.execute("UPDATE devices SET customer = ? WHERE id = ?", (customer_id, device_id))


def get_device(db: sqlite3.Connection, device_id: str) -> Device | None:
    """The device, or None."""
    row = db.execute("SELECT id, customer FROM devices WHERE id = ?", (device_id,)).fetchone()
    return None if row is None else Device(*row)


def devices(db: sqlite3.Connection, customer_id: str | None) -> list[Device]:
    """Devices ordered by id, optionally of one customer."""
    sql = "SELECT id, customer FROM devices WHERE ?1 IS NULL OR customer = ?1 ORDER BY id"
    return [Device(*r) for r in db.execute(sql, (customer_id,)).fetchall()]


def save_meters(db: sqlite3.Connection, meters: Iterable[Meter]) -> None:
    """Insert meters with their time in service, or update their device and spec; a maximum
    demand or reverse register known before stays unless the new meter gives one."""
    db.executemany(
        "INSERT INTO meters (id, device, unit_mwh, coefficient, digits, max_demand_w,"
        " reverse, installed_at, removed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET"
        " device = excluded.device, unit_mwh = excluded.unit_mwh,"
        " coefficient = excluded.coefficient, digits = excluded.digits,"
        " max_demand_w = coalesce(excluded.max_demand_w, max_demand_w),"
        " reverse = max(reverse, excluded.reverse)",
        list(map(store_rows.meter_row, meters)),
    )


_ANY_KEY = 2**63 - 1
# One object per distinct spec, not one per meter: a fleet has a few, made once (a cache
# made at each call cost more than the query of one meter).
_spec = lru_cache(maxsize=1024)(MeterSpec)


def meters(
    db: sqlite3.Connection, which: tuple[str | None, str | None, str | None, int | None]
) -> list[Meter]:
    """Registered meters ordered by id; ``which`` is (customer, device, meter id, highest
    key), each narrowing the list when given."""
    customer_id, device_id, meter_id, upto = which
    if meter_id is not None:
        rows = db.execute(f"{_METERS} WHERE m.id = ? AND m.device IS NOT NULL", (meter_id,))
    elif device_id is not None:
        rows = db.execute(
            f"{_METERS} LEFT JOIN devices d ON d.id = m.device"
            " WHERE m.device = ?1 AND (?2 IS NULL OR d.customer = ?2)",
            (device_id, customer_id),
        )
    elif customer_id is not None:
        rows = db.execute(
            f"{_METERS} JOIN devices d ON d.id = m.device WHERE d.customer = ?", (customer_id,)
        )
    else:
        rows = db.execute(f"{_METERS} WHERE m.device IS NOT NULL")
    found = rows.fetchall()
    found.sort()  # by id, which is unique: faster here than SQLite's sort of a join
    last = _ANY_KEY if upto is None else upto
    return [
        Meter(i, d, _spec(u, c, g), x, bool(r), fitted, removed, bool(o))
        for i, d, u, c, g, x, r, fitted, removed, o, k in found
        if k <= last
    ]


def set_service(
    db: sqlite3.Connection,
    spans: Iterable[tuple[str, int | None, int | None]],
    by_operator: bool | None = None,
) -> None:
    """Set (meter, installed_at, removed_at) of each meter, as given, and whether an
    operator set the removal (None: as it was; never without a removal)."""
    db.executemany(
        "UPDATE meters SET installed_at = ?, removed_at = ?,"
        " removal_by_operator = coalesce(?, removal_by_operator) AND ? IS NOT NULL WHERE id = ?",
        [(fitted, removed, by_operator, removed, meter) for meter, fitted, removed in spans],
    )


def _exists(db: sqlite3.Connection, table: str, key: str) -> bool:
    return db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (key,)).fetchone() is not None  # noqa: S608


def meter_exists(db: sqlite3.Connection, meter_id: str) -> bool:
    """Whether the meter is registered."""
    return db.execute("SELECT 1 FROM meters WHERE id = ?", (meter_id,)).fetchone() is not None


class SqliteRegistry(SqlitePart):
    """The Registry port on the store's connection."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        super().__init__(db, lock)
        self._changing = threading.RLock()
        self._seen: int | None = None  # data_version as this connection last let go
        self._depth = 0  # how many times the holder took changing_meters
        # The database's file, beside which the lock is; empty for one in memory.
        self._path = str(db.execute("PRAGMA database_list").fetchone()[2] or "")

    def add_customer(self, customer: Customer) -> None:
        """Add a customer; AlreadyExistsError if the id is taken."""
        with self._writing(f"adding customer {customer.id!r}") as db:
            add_customer(db, customer)

    def update_customer(self, customer: Customer) -> None:
        """Replace a customer's name and settings; NotFoundError for an unknown customer."""
        with self._writing(f"changing customer {customer.id!r}") as db:
            update_customer(db, customer)

    def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        found = self._read("reading customers", customers, customer_id)
        return next(iter(found), None)

    def list_customers(self) -> list[Customer]:
        """All customers ordered by id."""
        return self._read("reading customers", customers, None)

    def add_device(self, device: Device) -> None:
        """Add a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""
        with self._writing(f"adding device {device.id!r}") as db:
            add_device(db, device)

    def get_device(self, device_id: str) -> Device | None:
        """The device, or None."""
        return self._read("reading a device", get_device, device_id)

    def list_devices(self, customer_id: str | None = None) -> list[Device]:
        """Devices ordered by id, optionally of one customer."""
        return self._read("listing devices", devices, customer_id)

    def move_device(self, device_id: str, customer_id: str) -> None:
        """Make the device (and so its meters) the customer's; NotFoundError for an unknown
        device or customer."""
        with self._writing(f"moving device {device_id!r}") as db:
            move_device(db, device_id, customer_id)

    def save_meters(self, meters: Iterable[Meter]) -> None:
        """Insert meters with their time in service, or update their device and spec if they
        exist; a maximum demand or reverse register known before stays unless the new meter
        gives one."""
        with self._writing("saving meters") as db:
            save_meters(db, meters)

    def set_service(
        self,
        spans: Sequence[tuple[str, int | None, int | None]],
        *,
        by_operator: bool | None = None,
    ) -> None:
        """Set (meter, installed_at, removed_at) of each meter, as given, and whether an
        operator set the removal (None: as it was); NotFoundError for a meter not
        registered."""
        with self._writing("recording meters' time in service") as db:
            for meter_id, _, _ in spans:
                if not meter_exists(db, meter_id):
                    raise NotFoundError(f"meter {meter_id!r} does not exist")
            set_service(db, spans, by_operator)

    @contextmanager
    def changing_meters(self) -> Iterator[bool]:
        """The lock of meters' changes: this connection's, and an exclusive ``flock`` on a
        file beside the database that every process ingesting into it takes (a server,
        an import and its worker processes). Yields whether another connection committed
        anything since this one last held it: what was read before may be out of date.
        Taken again by its holder, it is held."""
        with self._changing:
            if self._depth:
                yield False
                return
            with _file_lock(self._path):
                self._depth += 1
                try:
                    with self._lock:
                        version = self._db.execute("PRAGMA data_version").fetchone()[0]
                    # This connection's own commits leave it as it is: another's while this
                    # one holds the lock (an operator's, who takes no lock) shows next time.
                    shared, self._seen = version != self._seen, version
                    yield shared
                finally:
                    self._depth -= 1

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""
        found = self._read("reading a meter", meters, (None, None, meter_id, None))
        return next(iter(found), None)

    def list_meters(
        self,
        customer_id: str | None = None,
        *,
        device_id: str | None = None,
        as_of: Watermark | None = None,
    ) -> list[Meter]:
        """Meters ordered by id, optionally of one customer (through their devices) or of
        one device; with ``as_of``, those whose key it reaches (keys are given in turn)."""
        upto = None if as_of is None else as_of.meter
        which = (customer_id, device_id, None, upto)
        return self._read("reading meters", meters, which)

    def last_meter(self) -> int:
        """The newest meter key: keys are given in turn, to meters first seen in readings too."""
        sql = "SELECT ifnull(max(key), 0) FROM meters"
        found: int = self._rows("reading the newest meter", sql)[0][0]
        return found


@contextmanager
def _file_lock(db_path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``<database>-meters.lock`` while inside (nothing for a
    database in memory); the kernel lets it go if the process dies. The file is made
    with the database's mode and owner, as SQLite makes its own beside it."""
    if not db_path:
        yield
        return
    path = f"{db_path}-meters.lock"
    try:
        fd = _lock_file(path, Path(db_path).stat())
    except OSError as exc:
        raise StoreError(
            f"SQLite store: cannot open the lock of meters' changes {path}: {exc}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing lets the lock go


def _lock_file(path: str, database: os.stat_result) -> int:
    """A descriptor of the lock file, made like the database if missing; read-only if
    this process may not write it (a lock needs no more)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, database.st_mode & 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    if os.geteuid() == 0 and os.fstat(fd).st_uid != database.st_uid:
        os.fchown(fd, database.st_uid, database.st_gid)
    return fd
