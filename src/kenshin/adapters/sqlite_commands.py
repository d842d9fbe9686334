"""Commands to devices in the SQLite store: queued, polled, counted, acknowledged.

The ``commands`` table is the queue: ``kenshin devices resend`` adds to it from its own
process while ``kenshin serve`` polls it for ids above the last it saw. Its ids never
repeat (AUTOINCREMENT), and a writer holds the database's one write lock from insert
to commit, so ids become visible in the order they were given: the poll skips none.
Each function takes the store's connection; ``SqliteCommands``, the port, holds the
lock and, for writes, the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.devices import COMMAND_NAME, Command
from kenshin.errors import NotFoundError, StoreError

_SELECT = (
    "SELECT id, device, name, payload, created_at, sent_count, last_sent_at, acknowledged_at"
    " FROM commands"
)


def check_name(name: str) -> None:
    """StoreError unless ``name`` can be a command's name (one topic level)."""
    if not COMMAND_NAME.fullmatch(name):
        raise StoreError(f"SQLite store: {name!r} is no command name ({COMMAND_NAME.pattern})")


def add(
    db: sqlite3.Connection,
    device_id: str,
    name: str,
    payload: bytes | Callable[[int], bytes],
    at: int,
) -> int:
    """Insert a command; its id. NotFoundError for an unknown device."""
    check_name(name)
    if db.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchone() is None:
        raise NotFoundError(f"device {device_id!r} does not exist")
    body = b"" if callable(payload) else payload
    cursor = db.execute(
        "INSERT INTO commands (device, name, payload, created_at) VALUES (?, ?, ?, ?)",
        (device_id, name, body, at),
    )
    command_id = cursor.lastrowid
    assert command_id is not None
    if callable(payload):  # same transaction: nobody sees the command without its payload
        db.execute(
            "UPDATE commands SET payload = ? WHERE id = ?", (payload(command_id), command_id)
        )
    return command_id


def get(db: sqlite3.Connection, command_id: int) -> Command | None:
    """The command, or None."""
    return next(iter(_commands(db, f"{_SELECT} WHERE id = ?", (command_id,))), None)


def pending(db: sqlite3.Connection, device_id: str) -> list[Command]:
    """The device's commands not acknowledged yet, oldest first."""
    sql = f"{_SELECT} WHERE device = ? AND acknowledged_at IS NULL ORDER BY id"
    return _commands(db, sql, (device_id,))


def named(db: sqlite3.Connection, name_since: tuple[str, int]) -> list[Command]:
    """Every command of a name added at or after a time, oldest first."""
    sql = f"{_SELECT} WHERE name = ? AND created_at >= ? ORDER BY id"
    return _commands(db, sql, name_since)


def after(db: sqlite3.Connection, since: tuple[int, int]) -> list[Command]:
    """``since`` is (command id, limit): that many commands not acknowledged yet with a
    higher id, oldest first."""
    sql = f"{_SELECT} WHERE id > ? AND acknowledged_at IS NULL ORDER BY id LIMIT ?"
    return _commands(db, sql, since)


def sent(db: sqlite3.Connection, command_id: int, at: int) -> None:
    """Count one more sending of the command, at ``at``."""
    sql = "UPDATE commands SET sent_count = sent_count + 1, last_sent_at = ? WHERE id = ?"
    _changed(db.execute(sql, (at, command_id)), command_id)


def acknowledge(db: sqlite3.Connection, command_id: int, at: int) -> None:
    """Mark the command acknowledged at ``at``, unless it was already. A command
    acknowledged was sent: one whose sending went unrecorded counts one, at ``at``."""
    sql = (
        "UPDATE commands SET acknowledged_at = coalesce(acknowledged_at, ?),"
        " last_sent_at = coalesce(last_sent_at, ?), sent_count = max(sent_count, 1)"
        " WHERE id = ?"
    )
    _changed(db.execute(sql, (at, at, command_id)), command_id)


def _changed(cursor: sqlite3.Cursor, command_id: int) -> None:
    if cursor.rowcount == 0:
        raise NotFoundError(f"command {command_id} does not exist")


def _commands(db: sqlite3.Connection, sql: str, args: Sequence[object]) -> list[Command]:
    return [
        Command(i, d, n, bytes(p), c, s, ls, a) for i, d, n, p, c, s, ls, a in db.execute(sql, args)
    ]


class SqliteCommands(SqlitePart):
    """The CommandQueue port on the store's connection."""

    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device; its id."""
        check_name(name)
        with self._writing(f"queuing a command for {device_id!r}") as db:
            return add(db, device_id, name, payload, at)

    def get_command(self, command_id: int) -> Command | None:
        """The command, or None."""
        return self._read("reading a command", get, command_id)

    def pending_commands(self, device_id: str) -> list[Command]:
        """The device's commands not acknowledged yet, oldest first."""
        return self._read("reading commands", pending, device_id)

    def commands_named(self, name: str, since: int) -> list[Command]:
        """Every command called ``name`` added at or after ``since``, oldest first."""
        return self._read("reading commands", named, (name, since))

    def commands_after(self, command_id: int, limit: int = 1000) -> list[Command]:
        """Commands not acknowledged yet with an id above ``command_id``, oldest first."""
        return self._read("reading new commands", after, (command_id, limit))

    def command_sent(self, command_id: int, at: int) -> None:
        """Count one more sending of the command, at ``at``."""
        with self._writing(f"counting a sending of command {command_id}") as db:
            sent(db, command_id, at)

    def acknowledge_command(self, command_id: int, at: int) -> None:
        """Mark the command acknowledged at ``at``, unless it was already."""
        with self._writing(f"acknowledging command {command_id}") as db:
            acknowledge(db, command_id, at)
