"""A part of the SQLite store (deliveries, alerts, unit clocks) on the store's own
connection and lock: each call one transaction, every SQLite error a StoreError."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kenshin.errors import StoreError


class SqlitePart:
    """Runs on the store's connection; ``lock`` is the store's."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    @contextmanager
    def _using(self, what: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, alone; with ``write``, in a transaction committed at the end
        (rolled back on any error). StoreError naming ``what`` if SQLite fails."""
        with self._lock:
            try:
                if write:
                    self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    if write:
                        self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store: {what} failed: {exc}") from exc
