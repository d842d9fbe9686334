"""A part of the SQLite store (one port: registry, readings, deliveries...) on the store's
own connection and lock: each call one transaction, every SQLite error a StoreError."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from kenshin.errors import StoreError

_A = TypeVar("_A")
_T = TypeVar("_T")


class SqlitePart:
    """Runs on the store's connection; ``lock`` is the store's."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    @contextmanager
    def _using(self, what: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, alone; with ``write``, in a transaction committed at the end
        (rolled back on any error). StoreError naming ``what`` if SQLite fails."""
        with self._lock, wrapped(what):
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

    def _writing(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        """The connection in a transaction committed at the end (see ``_using``)."""
        return self._using(what, write=True)

    def _read(self, what: str, read: Callable[[sqlite3.Connection, _A], _T], arg: _A) -> _T:
        """What ``read(connection, arg)`` returns; no other thread uses the connection meanwhile."""
        with self._using(what) as db:
            return read(db, arg)

    def _rows(self, what: str, sql: str, args: Sequence[object] = ()) -> list[Any]:
        with self._using(what) as db:
            return db.execute(sql, args).fetchall()


@contextmanager
def wrapped(what: str) -> Iterator[None]:
    """Every SQLite error raised within as a StoreError naming ``what``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite store: {what} failed: {exc}") from exc
