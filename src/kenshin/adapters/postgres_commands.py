"""PostgreSQL store: commands to devices, queued, polled, counted, acknowledged.

The ``commands`` table is the queue: ``kenshin devices resend`` adds to it while the
endpoints poll it for ids above the last they saw. Ids come from an identity, so they
never repeat; but in PostgreSQL two transactions may take ids 5 and 6 and commit 6
first, and a poll between the commits would see 6 and then never look at 5 again.
So ``add_command`` takes a transaction-scoped advisory lock before it takes an id:
inserts are serialized, each commits before the next takes its id, and ids become
visible in the order they were given: the poll skips none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kenshin.adapters.postgres_part import PgPart
from kenshin.domain.devices import COMMAND_NAME, Command
from kenshin.errors import NotFoundError, StoreError

SCHEMA = """
    CREATE TABLE commands (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device TEXT COLLATE "C" NOT NULL REFERENCES devices,
        name TEXT NOT NULL, payload BYTEA NOT NULL, created_at BIGINT NOT NULL,
        sent_count INTEGER NOT NULL DEFAULT 0, last_sent_at BIGINT, acknowledged_at BIGINT);
    CREATE INDEX commands_pending ON commands (device, id) WHERE acknowledged_at IS NULL;
    CREATE INDEX commands_named ON commands (name, created_at);
"""

# The advisory lock add_command takes: ids become visible in the order given.
COMMANDS_LOCK = 0x6B656E7368696E02  # "kenshin" + 2
_SELECT = (
    "SELECT id, device, name, payload, created_at, sent_count, last_sent_at, acknowledged_at"
    " FROM commands"
)


def check_name(name: str) -> None:
    """StoreError unless ``name`` can be a command's name (one topic level)."""
    if not COMMAND_NAME.fullmatch(name):
        raise StoreError(f"PostgreSQL store: {name!r} is no command name ({COMMAND_NAME.pattern})")


def _commands(rows: Iterable[Sequence[Any]]) -> list[Command]:
    return [Command(i, d, n, bytes(p), c, s, ls, a) for i, d, n, p, c, s, ls, a in rows]


class PgCommands(PgPart):
    """The CommandQueue port: commands to devices, ids rising in the order added."""

    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device as of ``at``; its id, higher than any given before.
        ``payload`` may be a function of that id. NotFoundError for an unknown device,
        StoreError for a name not like COMMAND_NAME."""
        check_name(name)
        body = b"" if callable(payload) else bytes(payload)
        insert = (
            "INSERT INTO commands (device, name, payload, created_at)"
            " VALUES (%s, %s, %s, %s) RETURNING id"
        )
        with self._using(f"queuing a command for {device_id!r}") as db:
            # Serialize the inserts: an id taken is committed before the next is taken,
            # so the poll (commands_after) never sees a higher id before a lower one.
            db.execute("SELECT pg_advisory_xact_lock(%s)", (COMMANDS_LOCK,))
            if db.execute("SELECT 1 FROM devices WHERE id = %s", (device_id,)).fetchone() is None:
                raise NotFoundError(f"device {device_id!r} does not exist")
            row = db.execute(insert, (device_id, name, body, at)).fetchone()
            assert row is not None
            command_id = int(row[0])
            if callable(payload):  # same transaction: nobody sees it without its payload
                db.execute(
                    "UPDATE commands SET payload = %s WHERE id = %s",
                    (bytes(payload(command_id)), command_id),
                )
        return command_id

    def get_command(self, command_id: int) -> Command | None:
        """The command, or None."""
        rows = self._rows("reading a command", f"{_SELECT} WHERE id = %s", (command_id,))
        return next(iter(_commands(rows)), None)

    def pending_commands(self, device_id: str) -> list[Command]:
        """The device's commands not acknowledged yet, oldest first."""
        sql = f"{_SELECT} WHERE device = %s AND acknowledged_at IS NULL ORDER BY id"
        return _commands(self._rows("reading commands", sql, (device_id,)))

    def commands_named(self, name: str, since: int) -> list[Command]:
        """Every command called ``name`` added at or after ``since``, acknowledged or
        not, oldest first."""
        sql = f"{_SELECT} WHERE name = %s AND created_at >= %s ORDER BY id"
        return _commands(self._rows("reading commands", sql, (name, since)))

    def commands_after(self, command_id: int, limit: int = 1000) -> list[Command]:
        """At most ``limit`` commands not acknowledged yet with an id above ``command_id``,
        of any device, oldest first."""
        sql = f"{_SELECT} WHERE id > %s AND acknowledged_at IS NULL ORDER BY id LIMIT %s"
        return _commands(self._rows("reading new commands", sql, (command_id, limit)))

    def command_sent(self, command_id: int, at: int) -> None:
        """Count one more sending of the command, at ``at``; NotFoundError for an unknown id."""
        sql = "UPDATE commands SET sent_count = sent_count + 1, last_sent_at = %s WHERE id = %s"
        with self._using(f"counting a sending of command {command_id}") as db:
            if db.execute(sql, (at, command_id)).rowcount == 0:
                raise NotFoundError(f"command {command_id} does not exist")

    def acknowledge_command(self, command_id: int, at: int) -> None:
        """Mark the command acknowledged at ``at``; the first acknowledgement's time stays.
        A command acknowledged counts as sent at least once (at ``at`` if no sending was
        recorded). NotFoundError for an unknown id."""
        sql = (
            "UPDATE commands SET acknowledged_at = coalesce(acknowledged_at, %s),"
            " last_sent_at = coalesce(last_sent_at, %s), sent_count = greatest(sent_count, 1)"
            " WHERE id = %s"
        )
        with self._using(f"acknowledging command {command_id}") as db:
            if db.execute(sql, (at, at, command_id)).rowcount == 0:
                raise NotFoundError(f"command {command_id} does not exist")
