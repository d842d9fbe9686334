"""SQLite store: the embedded deployment's database, one file, one writer connection.

WAL journal with ``synchronous=FULL``: a committed batch survives a crash of the
process and a power loss. Readings live in a ``WITHOUT ROWID`` table keyed on (meter key, t); the
meter key is a small integer the ``meters`` table gives a meter id the first time
it is seen, so readings of a meter its device has not registered yet are kept too.
Each batch of readings records when it was received. One connection serves every
call; a lock makes threads take turns with it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kenshin.adapters.export_locks import FileExportLocks, ProcessExportLocks
from kenshin.adapters.sqlite_alerts import SqliteAlertHistory, SqliteAlerts
from kenshin.adapters.sqlite_bulk import SqliteBulkReader
from kenshin.adapters.sqlite_certificates import SqliteCertificates
from kenshin.adapters.sqlite_commands import SqliteCommands
from kenshin.adapters.sqlite_delivery import SqliteDeliveries
from kenshin.adapters.sqlite_operators import SqliteAuditLog, SqliteOperators
from kenshin.adapters.sqlite_part import wrapped
from kenshin.adapters.sqlite_readings import SqliteReadings
from kenshin.adapters.sqlite_records import SqliteDeadLetters, SqliteRevisions
from kenshin.adapters.sqlite_registry import SqliteRegistry
from kenshin.adapters.sqlite_schema import MIGRATIONS, TEMP_TABLES, migrate
from kenshin.adapters.sqlite_units import SqliteUnitClocks
from kenshin.domain.model import Watermark
from kenshin.errors import StoreError

log = logging.getLogger(__name__)


class SqliteStore:
    """A Store in one SQLite file, each port a part on the one connection; ``in_memory()``
    for a throwaway one."""

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
        with wrapped(f"opening {path}"):
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
                self.upgraded_from = migrate(self._db)
                self.version = len(MIGRATIONS)
            except BaseException:
                self._db.close()
                raise
        db, lock = self._db, self._lock
        self.registry = SqliteRegistry(db, lock)
        self.certificates = SqliteCertificates(db, lock)
        self.commands = SqliteCommands(db, lock)
        self.readings = SqliteReadings(db, lock, self._reader)
        self.dead_letters = SqliteDeadLetters(db, lock)
        exports = ProcessExportLocks() if uri else FileExportLocks(_exports_folder(Path(path)))
        self.revisions = SqliteRevisions(db, lock, exports)
        self.deliveries = SqliteDeliveries(db, lock)
        self.alerts = SqliteAlerts(db, lock)
        self.alert_history = SqliteAlertHistory(db, lock)
        self.unit_clocks = SqliteUnitClocks(db, lock)
        self.operators = SqliteOperators(db, lock)
        self.audit = SqliteAuditLog(db, lock)

    @classmethod
    def in_memory(cls) -> SqliteStore:
        """A store in a private in-memory database, gone when closed."""
        # Shared cache, so that the bulk reader's own connection sees the same database.
        return cls(f"file:kenshin-{uuid.uuid4().hex}?mode=memory&cache=shared")

    def watermark(self) -> Watermark:
        """How far the store has come: the newest meter, then the newest batch."""
        meter = self.registry.last_meter()
        return Watermark(self.readings.last_batch(), meter)

    def check_writable(self, timeout_s: float = 2.0) -> None:
        """Take the database's write lock and let it go at once; StoreError if that cannot
        be done within ``timeout_s`` (another process holds it, the file is read-only...)."""
        if not self._lock.acquire(timeout=timeout_s):
            raise StoreError(f"SQLite store: a write has been under way for over {timeout_s:g} s")
        try:
            with wrapped("taking the write lock"):
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


def _exports_folder(path: Path) -> Path:
    """The folder of the customers' export locks: beside the database, named after it."""
    path = path.resolve()
    return path.with_name(path.name + "-exports")


@contextmanager
def _os_error(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StoreError(f"SQLite store: cannot create {path}: {exc.strerror}") from exc
