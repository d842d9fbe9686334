"""Dead letters and file revisions in the SQLite store: the DeadLetters and Revisions ports
on the store's connection."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import astuple

from kenshin.adapters.export_locks import ExportLocks
from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.model import DeadLetter, FileRevision

_INSERT_REVISION = "INSERT OR REPLACE INTO revisions VALUES (" + ", ".join("?" * 16) + ")"  # noqa: S608 - placeholders only

# The dead letters received at or after a time: in the order kept, or (True) newest first.
_LETTERS = {
    False: "SELECT source, reason, payload, received_at, device FROM dead_letters"
    " WHERE received_at >= ? ORDER BY id LIMIT ?",
    True: "SELECT source, reason, payload, received_at, device FROM dead_letters"
    " WHERE received_at >= ? ORDER BY received_at DESC, id DESC LIMIT ?",
}


class SqliteDeadLetters(SqlitePart):
    """Messages that could not be used, each kept once."""

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons; each one once."""
        with self._writing(f"keeping {len(letters)} dead letters") as db:
            db.executemany(
                "INSERT OR IGNORE INTO dead_letters (source, reason, payload, received_at, device)"
                " VALUES (?, ?, ?, ?, ?)",
                [astuple(d) for d in letters],
            )

    def list_dead_letters(
        self, limit: int = 1000, since: int | None = None, *, newest: bool = False
    ) -> list[DeadLetter]:
        """At most ``limit`` dead letters in the order kept; with ``since``, those received
        then or later; with ``newest``, the ``limit`` received last, newest first."""
        rows = self._rows("listing dead letters", _LETTERS[newest], (since or 0, limit))
        return [DeadLetter(*r) for r in rows]

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""
        sql = "SELECT count(*) FROM dead_letters WHERE received_at >= ?"
        count: int = self._rows("counting dead letters", sql, (since or 0,))[0][0]
        return count


class SqliteRevisions(SqlitePart):
    """The revisions of customers' day files; ``exports``, the customers' export locks."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, exports: ExportLocks) -> None:
        super().__init__(db, lock)
        self.exporting = exports.exporting

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
