"""SQLite store: the embedded deployment's database, one file, one writer connection.

WAL journal with ``synchronous=FULL``: a committed batch survives a crash of the
process and a power loss. Readings live in a ``WITHOUT ROWID`` table keyed on (meter key, t); the
meter key is a small integer the ``meters`` table gives a meter id the first time
it is seen, so readings of a meter its device has not registered yet are kept too.
Each batch of readings records when it was received. One connection serves every
call; a lock makes threads take turns with it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, TypeVar, cast

from kenshin.adapters import sqlite_certificates, sqlite_commands, sqlite_days, sqlite_registry
from kenshin.adapters.sqlite_alerts import SqliteAlerts
from kenshin.adapters.sqlite_bulk import SqliteBulkReader
from kenshin.adapters.sqlite_days import DAY_SECONDS
from kenshin.adapters.sqlite_delivery import SqliteDeliveries
from kenshin.adapters.sqlite_readings import (
    new_meter_keys,
    newest_batch,
    readings_of,
    repack_late,
    store_batch,
)
from kenshin.adapters.sqlite_schema import TEMP_TABLES, migrate
from kenshin.adapters.sqlite_units import SqliteUnitClocks
from kenshin.domain.intervals import Registers
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
from kenshin.domain.readings import check_registers
from kenshin.errors import NotFoundError, StoreError
from kenshin.ports import Command, DeviceCertificate

log = logging.getLogger(__name__)

_METER = attrgetter("meter")

_CHUNK = 2000  # meters per readings_between query: bounds memory and how long the lock is held
_A = TypeVar("_A")
_T = TypeVar("_T")


_LAST = 2**63 - 1  # as of no batch in particular: every one
_INSERT_REVISION = "INSERT OR REPLACE INTO revisions VALUES (" + ", ".join("?" * 16) + ")"  # noqa: S608 - placeholders only


class SqliteStore:
    """A Store in one SQLite file; ``in_memory()`` for a throwaway one."""

    def __init__(self, path: str | Path, timeout: float = 10.0, *, create: bool = True) -> None:
        self._lock = threading.RLock()
        self._closed = False
        uri = path if isinstance(path, str) and path.startswith("file:") else None
        if uri is None:
            _prepare_file(Path(path), create=create)
        reader_uri = uri or f"{Path(path).resolve().as_uri()}?mode=ro"
        self._reader = SqliteBulkReader(
            lambda: sqlite3.connect(reader_uri, uri=True, timeout=timeout, check_same_thread=False)
        )
        self._keys: dict[str, int] = {}  # meter id -> key; a key never changes once given
        self._reverse: set[int] = set()  # keys of meters marked as having a reverse register
        with _wrapped(f"opening {path}"):
            # Any thread may call: self._lock makes them take turns with the connection.
            self._db = sqlite3.connect(
                uri or path,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=uri is not None,
            )
            try:
                for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
                    self._db.execute(f"PRAGMA {pragma}")
                self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                self._db.execute("PRAGMA temp_store = MEMORY")
                self._db.execute("PRAGMA cache_size = -65536")  # 64 MiB of hot B-tree pages
                self._db.executescript(TEMP_TABLES)
                migrate(self._db)
            except BaseException:
                self._db.close()
                raise
        self.deliveries = SqliteDeliveries(self._db, self._lock)
        self.alerts = SqliteAlerts(self._db, self._lock)
        self.unit_clocks = SqliteUnitClocks(self._db, self._lock)

    @classmethod
    def in_memory(cls) -> SqliteStore:
        """A store in a private in-memory database, gone when closed."""
        # Shared cache, so that the bulk reader's own connection sees the same database.
        return cls(f"file:kenshin-{uuid.uuid4().hex}?mode=memory&cache=shared")

    def _rows(self, what: str, sql: str, args: Sequence[object] = ()) -> list[Any]:
        with self._lock, _wrapped(what):
            return self._db.execute(sql, args).fetchall()

    def _read(self, what: str, read: Callable[[sqlite3.Connection, _A], _T], arg: _A) -> _T:
        """What ``read(connection, arg)`` returns; no other thread uses the connection meanwhile."""
        with self._lock, _wrapped(what):
            return read(self._db, arg)

    @contextmanager
    def _writing(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock, _wrapped(what):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # registry
    def add_customer(self, customer: Customer) -> None:
        """Add a customer; AlreadyExistsError if the id is taken."""
        with self._writing(f"adding customer {customer.id!r}") as db:
            sqlite_registry.add_customer(db, customer)

    def update_customer(self, customer: Customer) -> None:
        """Replace a customer's name and settings; NotFoundError for an unknown customer."""
        with self._writing(f"changing customer {customer.id!r}") as db:
            sqlite_registry.update_customer(db, customer)

    def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""
        found = self._read("reading customers", sqlite_registry.customers, customer_id)
        return next(iter(found), None)

    def list_customers(self) -> list[Customer]:
        """All customers ordered by id."""
        return self._read("reading customers", sqlite_registry.customers, None)

    def add_device(self, device: Device) -> None:
        """Add a device; NotFoundError for an unknown customer, AlreadyExistsError if taken."""
        with self._writing(f"adding device {device.id!r}") as db:
            sqlite_registry.add_device(db, device)

    def get_device(self, device_id: str) -> Device | None:
        """The device, or None."""
        return self._read("reading a device", sqlite_registry.get_device, device_id)

    def list_devices(self, customer_id: str | None = None) -> list[Device]:
        """Devices ordered by id, optionally of one customer."""
        return self._read("listing devices", sqlite_registry.devices, customer_id)

    def move_device(self, device_id: str, customer_id: str) -> None:
        """Make the device (and so its meters) the customer's; NotFoundError for an unknown
        device or customer."""
        with self._writing(f"moving device {device_id!r}") as db:
            sqlite_registry.move_device(db, device_id, customer_id)

    def save_meters(self, meters: Iterable[Meter]) -> None:
        """Insert meters, or update their device and spec if they exist; a maximum demand
        or reverse register known before stays unless the new meter gives one."""
        with self._writing("saving meters") as db:
            sqlite_registry.save_meters(db, meters)

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
                if not sqlite_registry.meter_exists(db, meter_id):
                    raise NotFoundError(f"meter {meter_id!r} does not exist")
            sqlite_registry.set_service(db, spans, by_operator)

    def get_meter(self, meter_id: str) -> Meter | None:
        """The meter, or None."""
        found = self._read("reading a meter", sqlite_registry.meters, (None, None, meter_id, None))
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
        found = self._read("reading meters", sqlite_registry.meters, which)
        return found

    def watermark(self) -> Watermark:
        """The newest batch and meter key."""
        sql = (
            "SELECT (SELECT ifnull(max(id), 0) FROM batches),"
            " (SELECT ifnull(max(key), 0) FROM meters)"
        )
        batch, meter = self._rows("reading the newest batch", sql)[0]
        return Watermark(batch, meter)

    # device certificates
    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device."""
        sqlite_certificates.check_serial(serial)  # before waiting for the write lock
        with self._writing(f"recording certificate {serial:x}") as db:
            sqlite_certificates.add(db, device_id, serial, not_after, issued_at)

    def get_certificate(self, serial: int) -> DeviceCertificate | None:
        """The certificate with this serial, or None."""
        return self._read("reading certificates", sqlite_certificates.get, serial)

    def list_certificates(self, device_id: str | None = None) -> list[DeviceCertificate]:
        """Certificates by device, then oldest issued first; optionally of one device."""
        return self._read("reading certificates", sqlite_certificates.list_of, device_id)

    def revoke_device(self, device_id: str, at: int) -> int:
        """Revoke every certificate of the device not revoked yet; how many."""
        with self._writing(f"revoking the certificates of {device_id!r}") as db:
            return sqlite_certificates.revoke(db, device_id, at)

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked."""
        return self._read("checking a certificate", sqlite_certificates.is_revoked, serial)

    def revoked_serials(self, since: int | None = None) -> set[int]:
        """Serials revoked at or after ``since``, or every revoked one."""
        return self._read("listing revocations", sqlite_certificates.revoked_serials, since)

    # commands to devices
    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device; its id."""
        sqlite_commands.check_name(name)
        with self._writing(f"queuing a command for {device_id!r}") as db:
            return sqlite_commands.add(db, device_id, name, payload, at)

    def get_command(self, command_id: int) -> Command | None:
        """The command, or None."""
        return self._read("reading a command", sqlite_commands.get, command_id)

    def pending_commands(self, device_id: str) -> list[Command]:
        """The device's commands not acknowledged yet, oldest first."""
        return self._read("reading commands", sqlite_commands.pending, device_id)

    def commands_named(self, name: str, since: int) -> list[Command]:
        """Every command called ``name`` added at or after ``since``, oldest first."""
        return self._read("reading commands", sqlite_commands.named, (name, since))

    def commands_after(self, command_id: int, limit: int = 1000) -> list[Command]:
        """Commands not acknowledged yet with an id above ``command_id``, oldest first."""
        return self._read("reading new commands", sqlite_commands.after, (command_id, limit))

    def command_sent(self, command_id: int, at: int) -> None:
        """Count one more sending of the command, at ``at``."""
        with self._writing(f"counting a sending of command {command_id}") as db:
            sqlite_commands.sent(db, command_id, at)

    def acknowledge_command(self, command_id: int, at: int) -> None:
        """Mark the command acknowledged at ``at``, unless it was already."""
        with self._writing(f"acknowledging command {command_id}") as db:
            sqlite_commands.acknowledge(db, command_id, at)

    # readings
    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch in one transaction; duplicates change nothing, conflicts are kept aside."""
        if not readings:
            return StoreResult()
        try:  # the bulk reader packs registers as 8 hex digits
            check_registers(readings)
        except ValueError as exc:
            raise StoreError(f"SQLite store: {exc}") from exc
        with self._lock:  # reentrant: the key cache changes under it, once committed
            with self._writing(f"storing {len(readings)} readings") as db:
                batch = db.execute("INSERT INTO batches (received_at) VALUES (?)", (received_at,))
                keys, new_keys = self._meter_keys(db, readings)
                result, reverse = store_batch(
                    db, readings, keys, batch.lastrowid or 0, received_at, self._reverse
                )
                repack_late(db, readings, keys)
            # Only once committed: a key or a mark of a rolled-back batch does not exist.
            self._keys.update(new_keys)
            self._reverse.update(reverse)
        return result

    def _meter_keys(
        self, db: sqlite3.Connection, readings: Sequence[Reading]
    ) -> tuple[list[int], dict[str, int]]:
        """The readings' meters' keys in order, and the keys given now to meters never seen."""
        meters = list(map(_METER, readings))
        known = list(map(self._keys.get, meters))
        if None not in known:
            return cast(list[int], known), {}
        new_keys = new_meter_keys(db, set(meters).difference(self._keys))
        return list(map(ChainMap(new_keys, self._keys).__getitem__, meters)), new_keys

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, with them sorted by t.

        Meters come in the order listed; each query reads a chunk of them.
        """
        for lo in range(0, len(meter_ids), _CHUNK):
            chunk = meter_ids[lo : lo + _CHUNK]
            for pos, group in groupby(self._read_chunk(chunk, start, end), key=itemgetter(0)):
                meter = chunk[pos]
                yield meter, [Reading(meter, t, fwd, rev) for _, t, fwd, rev in group]

    def _read_chunk(self, chunk: Sequence[str], start: int, end: int) -> list[Any]:
        with self._lock, _wrapped("reading readings"):
            self._db.execute("BEGIN")
            try:
                return readings_of(self._db, chunk, start, end)
            finally:
                self._db.execute("ROLLBACK")

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count), NO_REGISTER where none; with
        ``as_of``, of readings of its batch or earlier.

        Read on a connection of its own: see ``sqlite_bulk``.
        """
        batch = None if as_of is None else as_of.batch
        with _wrapped("reading boundary registers"):
            return self._reader.boundary_registers(meter_ids, start, count, batch)

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end; 0 if none."""
        return self._read("reading the days' newest batch", newest_batch, (start, end))

    def compact(self, before: int) -> int:
        """Pack every UTC day with readings that ended at or before ``before``; how many.

        A chunk of meters per transaction, so that writers wait a moment at most.
        """
        with self._lock, _wrapped("listing days to pack"):
            days = sqlite_days.closed_days(self._db, before)
        for day in days:
            done = False
            while not done:
                with self._writing(f"packing day {day * DAY_SECONDS}") as db:
                    done = sqlite_days.pack_chunk(db, day)
        return len(days)

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""
        sql = (
            "SELECT DISTINCT m.id, c.t FROM conflicts c JOIN meters m ON m.key = c.meter"
            " WHERE c.t BETWEEN ? AND ? AND m.id IN (SELECT value FROM json_each(?))"
            " AND c.batch <= ? ORDER BY m.id, c.t"
        )
        batch = _LAST if as_of is None else as_of.batch
        args = (start, end, json.dumps(list(meter_ids)), batch)
        return [(m, t) for m, t in self._rows("reading conflicts", sql, args)]

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""
        sql = (
            "SELECT m.id, c.t, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev, b.received_at"
            " FROM conflicts c JOIN meters m ON m.key = c.meter JOIN batches b ON b.id = c.batch"
            " ORDER BY c.id LIMIT ?"
        )
        return [Conflict(*r) for r in self._rows("listing conflicts", sql, (limit,))]

    # dead letters
    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons; each one once."""
        with self._writing(f"keeping {len(letters)} dead letters") as db:
            db.executemany(
                "INSERT OR IGNORE INTO dead_letters (source, reason, payload, received_at, device)"
                " VALUES (?, ?, ?, ?, ?)",
                [astuple(d) for d in letters],
            )

    def list_dead_letters(self, limit: int = 1000, since: int | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first; with ``since``, those received then or later."""
        sql = "SELECT source, reason, payload, received_at, device FROM dead_letters"
        sql += " WHERE received_at >= ? ORDER BY id LIMIT ?"
        rows = self._rows("listing dead letters", sql, (since or 0, limit))
        return [DeadLetter(*r) for r in rows]

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""
        sql = "SELECT count(*) FROM dead_letters WHERE received_at >= ?"
        count: int = self._rows("counting dead letters", sql, (since or 0,))[0][0]
        return count

    # file revisions
    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""
        return next(iter(self._revisions(customer_id, day, "DESC LIMIT 1")), None)

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision, or replace the one with the same number."""
        with self._writing(f"recording revision {revision.revision} of {revision.day}") as db:
            db.execute(
                _INSERT_REVISION,
                astuple(revision),
            )

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""
        return self._revisions(customer_id, day, "")

    def _revisions(self, customer_id: str, day: str, order: str) -> list[FileRevision]:
        sql = f"SELECT * FROM revisions WHERE customer = ? AND day = ? ORDER BY revision {order}"  # noqa: S608
        return [FileRevision(*r) for r in self._rows("reading revisions", sql, (customer_id, day))]

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Take the database's write lock and let it go at once; StoreError if that cannot
        be done within ``timeout_s`` (another process holds it, the file is read-only...)."""
        if not self._lock.acquire(timeout=timeout_s):
            raise StoreError(f"SQLite store: a write has been under way for over {timeout_s:g} s")
        try:
            with _wrapped("taking the write lock"):
                busy = self._db.execute("PRAGMA busy_timeout").fetchone()[0]
                self._db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.execute("ROLLBACK")
                finally:
                    self._db.execute(f"PRAGMA busy_timeout = {int(busy)}")
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def close(self) -> None:
        """Close the connections; the store cannot be used afterwards. Closing again does
        nothing."""
        with self._lock:
            self._closed = True
            self._reader.close()
            self._db.close()


def _prepare_file(path: Path, *, create: bool) -> None:
    """Make a new database file readable by its owner alone (SQLite gives its -wal and
    -shm files the same mode); without ``create``, refuse a missing or empty one, which
    SQLite would silently take as a new empty database."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = None
    else:
        _owner_only(path)
    if create:
        if size is None:
            with _os_error(path):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    if not size:
        state = "does not exist" if size is None else "is empty (0 bytes)"
        raise StoreError(
            f"{path} {state}: it should hold the customers, devices and revoked"
            " certificates. Restore it from a backup, or start with an"
            f" empty database: kenshin init --new-database {path.parent}"
        )


def _owner_only(path: Path) -> None:
    """Take away what others may do with a database made before it was created 0600
    (it holds password hashes), and with its -wal and -shm files."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = file.stat().st_mode & 0o777
            if mode & 0o077:
                file.chmod(mode & 0o700)
                log.warning("%s was readable by others (%o): now by its owner alone", file, mode)
        except FileNotFoundError:
            continue
        except PermissionError as exc:  # not ours to change: say so, and go on
            log.warning("%s is readable by others and cannot be changed: %s", file, exc)


@contextmanager
def _os_error(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StoreError(f"SQLite store: cannot create {path}: {exc.strerror}") from exc


@contextmanager
def _wrapped(what: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite store: {what} failed: {exc}") from exc
