"""PostgreSQL store: dead letters and file revisions (the DeadLetters and Revisions ports)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, fields
from typing import Any

import psycopg

from kenshin.adapters.postgres_part import PgPart, connection, wrapped
from kenshin.domain.model import DeadLetter, FileRevision

SCHEMA = """
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, reason TEXT NOT NULL,
    payload BYTEA NOT NULL, received_at BIGINT NOT NULL, device TEXT,
    digest BYTEA GENERATED ALWAYS AS (sha256(payload)) STORED);
-- A dead letter that comes again (a file imported twice) is kept once: the payload is
-- compared by its digest, which keeps the index small whatever its size.
CREATE UNIQUE INDEX dead_letters_once
    ON dead_letters (source, coalesce(device, ''), md5(reason), digest);
CREATE INDEX dead_letters_received ON dead_letters (received_at);
CREATE TABLE revisions (
    customer TEXT NOT NULL, day TEXT NOT NULL, revision INTEGER NOT NULL,
    status TEXT NOT NULL, file_name TEXT NOT NULL, sha256 TEXT NOT NULL,
    content_key TEXT NOT NULL, "rows" INTEGER NOT NULL, slots INTEGER NOT NULL,
    actual_slots INTEGER NOT NULL, created_at BIGINT NOT NULL,
    estimated_slots INTEGER NOT NULL, changed_slots INTEGER NOT NULL,
    as_of_batch BIGINT NOT NULL, as_of_meter BIGINT NOT NULL, made_with TEXT NOT NULL,
    PRIMARY KEY (customer, day, revision));
"""

log = logging.getLogger(__name__)

_COLUMNS = [f'"{f.name}"' for f in fields(FileRevision)]
_KEY = {'"customer"', '"day"', '"revision"'}
_ADD_REVISION = (
    f"INSERT INTO revisions ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"  # noqa: S608 - our own names
    " ON CONFLICT (customer, day, revision) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in _KEY)
)
# A key of its own per schema and customer (hashtext gives 32 bits; the store's other
# advisory locks use keys beyond them).
_EXPORT_LOCK = "SELECT pg_advisory_{}(hashtext(current_schema() || ' export ' || %s))"
_REVISIONS = (
    f"SELECT {', '.join(_COLUMNS)} FROM revisions WHERE customer = %s AND day = %s"  # noqa: S608 - our own names
    " ORDER BY revision"
)


# The dead letters received at or after a time: in the order kept, or (True) newest first.
_LETTERS = {
    False: "SELECT source, reason, payload, received_at, device FROM dead_letters"
    " WHERE received_at >= %s ORDER BY id LIMIT %s",
    True: "SELECT source, reason, payload, received_at, device FROM dead_letters"
    " WHERE received_at >= %s ORDER BY received_at DESC, id DESC LIMIT %s",
}


class PgDeadLetters(PgPart):
    """Messages that could not be used, each kept once."""

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons; each one once."""
        if not letters:
            return
        with self._using(f"keeping {len(letters)} dead letters") as db:
            db.cursor().executemany(
                "INSERT INTO dead_letters (source, reason, payload, received_at, device)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [astuple(d) for d in letters],
            )

    def list_dead_letters(
        self, limit: int = 1000, since: int | None = None, *, newest: bool = False
    ) -> list[DeadLetter]:
        """At most ``limit`` dead letters in the order kept; with ``since``, those received
        then or later; with ``newest``, the ``limit`` received last, newest first."""
        rows = self._rows("listing dead letters", _LETTERS[newest], (since or 0, limit))
        return [DeadLetter(s, r, bytes(p), at, d) for s, r, p, at, d in rows]

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""
        query = "SELECT count(*) FROM dead_letters WHERE received_at >= %s"
        return int(self._rows("counting dead letters", query, (since or 0,))[0][0])


def _let_go(db: psycopg.Connection[Any], customer_id: str) -> None:
    """Let the export lock go; if that fails, end the session, which lets it go too."""
    try:
        db.execute(_EXPORT_LOCK.format("unlock"), (customer_id,))
        db.commit()
    except psycopg.Error as exc:
        log.warning("the export lock of %s goes with its connection: %s", customer_id, exc)
        db.close()


class PgRevisions(PgPart):
    """The revisions of customers' day files."""

    @contextmanager
    def exporting(self, customer_id: str) -> Iterator[None]:
        """A session-level advisory lock of the schema and customer, on a connection of
        the pool kept meanwhile; the server lets it go if that connection ends."""
        what = f"taking the export lock of {customer_id}"
        with wrapped(what, self._where), connection(self._pool, what) as db:
            db.execute(_EXPORT_LOCK.format("lock"), (customer_id,))
            db.commit()  # the lock is the session's: the connection waits idle meanwhile
            try:
                yield
            finally:
                _let_go(db, customer_id)

    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""
        rows = self._rows("reading revisions", _REVISIONS + " DESC LIMIT 1", (customer_id, day))
        return FileRevision(*rows[0]) if rows else None

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision, or replace the one with the same number."""
        what = f"recording revision {revision.revision} of {revision.day}"
        self._run(what, _ADD_REVISION, astuple(revision))

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""
        rows = self._rows("reading revisions", _REVISIONS, (customer_id, day))
        return [FileRevision(*r) for r in rows]
