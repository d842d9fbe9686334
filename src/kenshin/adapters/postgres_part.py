"""A part of the PostgreSQL store (one port: registry, readings, deliveries...) on the
store's connection pool: each call one transaction, every database error a StoreError."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from kenshin.errors import StoreError


class PgPart:
    """Runs on the store's pool, in the store's schema (its connections' search path)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @contextmanager
    def _using(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool in a transaction, committed at the end and rolled back
        on any error; StoreError naming ``what`` if PostgreSQL fails."""
        with wrapped(what), self._pool.connection() as db, db.transaction():
            yield db

    def _rows(
        self, what: str, sql: str, args: Sequence[object] | Mapping[str, object] = ()
    ) -> list[Any]:
        """The rows of one query (arguments by position, or by name)."""
        with self._using(what) as db:
            return db.execute(sql, args).fetchall()

    def _run(self, what: str, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement; how many rows it changed."""
        with self._using(what) as db:
            return db.execute(sql, args).rowcount


@contextmanager
def wrapped(what: str) -> Iterator[None]:
    """Every PostgreSQL error raised within as a StoreError naming ``what``."""
    try:
        yield
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL store: {what} failed: {exc}") from exc
