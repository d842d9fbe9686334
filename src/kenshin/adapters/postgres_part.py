"""A part of the PostgreSQL store (one port: registry, readings, deliveries...) on the
store's connection pool: each call one transaction, every database error a StoreError.

PostgreSQL restarting (or crashing) cuts every connection of the pool. A connection is
checked as it is taken from the pool, with a round trip only when the server has sent it
something unasked (what a shutdown does to every connection): a cut one is left to the
pool, which connects anew, and the next is taken. While the server is down, a call
fails within about ``LOOK_S`` with a StoreError saying so, instead of waiting for a
connection that cannot come. A transaction cut before its commit was asked for applied
nothing: a call of one statement (``_rows``, ``_run``) is then made once more on a new
connection; any other (a batch of readings) fails, and its caller tries again later.
"""

from __future__ import annotations

import logging
import re
import select
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from kenshin.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

WAIT_S = 30.0  # longest wait for a connection while the server answers (all of them busy)
LOOK_S = 1.0  # no connection within this: is the server there at all?
PROBE_TIMEOUT_S = 2  # the connect_timeout of that look (whole seconds, as libpq takes it)
# SQLSTATEs of a connection the server ended: shutting down, crashed, starting up.
_ENDED = ("57P01", "57P02", "57P03")
# How libpq begins the message of a failed connection.
_LIBPQ_PREFIX = re.compile(
    r"^(connection failed: )?connection to server (at|on) .*? failed: (FATAL: +)?"
)


class PgPart:
    """Runs on the store's pool, in the store's schema (its connections' search path)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._where = server_address(pool)

    @contextmanager
    def _using(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool in a transaction, committed at the end and rolled back
        on any error; StoreError naming ``what`` if PostgreSQL fails or cannot be reached."""
        with wrapped(what, self._where), connection(self._pool, what) as db, db.transaction():
            yield db

    def _rows(
        self, what: str, sql: str, args: Sequence[object] | Mapping[str, object] = ()
    ) -> list[Any]:
        """The rows of one query (arguments by position, or by name)."""
        return self._once_more(what, lambda db: db.execute(sql, args).fetchall())

    def _run(self, what: str, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement; how many rows it changed."""
        return self._once_more(what, lambda db: db.execute(sql, args).rowcount)

    def _once_more(self, what: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` in a transaction of its own, and again on a new connection if the
        first was cut before the commit was asked for (then nothing of it was applied)."""
        try:
            return self._attempt(what, work)
        except _CutBeforeCommit as exc:
            log.info("PostgreSQL store: %s once more, on a new connection: %s", what, exc)
        return self._attempt(what, work)

    def _attempt(self, what: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        stage = "connecting"
        try:
            with self._using(what) as db:
                stage = "working"
                result = work(db)
                stage = "committing"  # cut from now on: whether it committed is unknown
        except StoreError as exc:
            if stage == "working" and connection_lost(exc.__cause__):
                raise _CutBeforeCommit(str(exc)) from exc.__cause__
            raise
        return result


class _CutBeforeCommit(StoreError):
    """The connection was cut before the commit was asked for: nothing was applied."""


@contextmanager
def connection(
    pool: ConnectionPool, what: str, wait_s: float = WAIT_S
) -> Iterator[psycopg.Connection[Any]]:
    """A working connection of ``pool``, given back at the end. StoreError if the server
    cannot be reached (said within about LOOK_S), or if no connection is free within
    ``wait_s`` while it can."""
    db = _working_connection(pool, what, wait_s)
    try:
        yield db
    finally:
        pool.putconn(db)  # one cut meanwhile is closed, and the pool connects anew


def _working_connection(pool: ConnectionPool, what: str, wait_s: float) -> psycopg.Connection[Any]:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db = pool.getconn(max(0.01, min(LOOK_S, deadline - time.monotonic())))
        except PoolTimeout as exc:
            _check_reachable(pool, what)
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"PostgreSQL store: no free connection within {wait_s:g} s for {what}:"
                    f" all {pool.max_size} of the pool are in use; try again later"
                ) from exc
            continue
        if _works(db):
            return db
        log.info("PostgreSQL at %s ended a connection: connecting anew", server_address(pool))
        pool.putconn(db)


def _works(db: psycopg.Connection[Any]) -> bool:
    """Whether a connection taken from the pool still works: asked with a round trip only
    if the server has sent it something unasked (a notice that it is shutting down, or
    the end of the connection), which is what a restart or a crash does."""
    if db.closed:
        return False
    poller = select.poll()
    poller.register(db.fileno(), select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        ConnectionPool.check_connection(db)
    except psycopg.Error:
        return False
    return True


def _check_reachable(pool: ConnectionPool, what: str) -> None:
    """Return if a new connection to the pool's server can be made now; StoreError saying
    why not otherwise."""
    conninfo = pool.conninfo if isinstance(pool.conninfo, str) else ""
    try:
        with psycopg.connect(conninfo, connect_timeout=PROBE_TIMEOUT_S):
            return
    except psycopg.Error as exc:
        raise StoreError(
            f"PostgreSQL at {server_address(pool)} is not reachable ({reason(exc)}):"
            f" {what} was not done; try again once the server is back"
        ) from exc


def connection_lost(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the end of the connection (the server gone, restarting or
    starting up), not an error of what was asked."""
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, PoolTimeout):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith("08") or exc.sqlstate in _ENDED


def server_address(pool: ConnectionPool) -> str:
    """HOST:PORT of the pool's server, for messages."""
    conninfo = pool.conninfo if isinstance(pool.conninfo, str) else ""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "the configured server"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432}"


def reason(exc: BaseException) -> str:
    """Why a connection failed or ended, in a few words: the first line of libpq's
    message, without the server it names (the caller's message names it)."""
    lines = str(exc).strip().splitlines()
    return _LIBPQ_PREFIX.sub("", lines[0]) if lines else type(exc).__name__


@contextmanager
def wrapped(what: str, where: str | None = None) -> Iterator[None]:
    """Every PostgreSQL error raised within as a StoreError naming ``what``; one that
    ended the connection also names the server ``where``."""
    try:
        yield
    except psycopg.Error as exc:
        if where is not None and connection_lost(exc):
            raise StoreError(
                f"PostgreSQL store: {what} failed, the connection to PostgreSQL at {where}"
                f" was lost ({reason(exc)}); try again once the server is back"
            ) from exc
        raise StoreError(f"PostgreSQL store: {what} failed: {exc}") from exc
