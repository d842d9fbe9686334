"""Commands to devices in DynamoDB, queued, polled, counted, acknowledged: the
DynamoStore's ``commands``.

The queue is polled for ids above the last seen (``commands_after``), so ids must become
visible in the order given: a command is written in one transaction with the counter
``commands`` moving from the id before it to its own, on condition that the counter
still has the id before. Two processes that add at once take the same id; one
transaction is refused, and that process takes the next. Its partitions of the records
table (ids as 20 digits, which sort like the numbers):

- ``command``: a command per item, ``sk`` its id (its sendings, its acknowledgement);
- ``command-pending`` and ``command-pending#`` + a device's id: the ids of the commands
  not acknowledged yet, of every device and of that device; an acknowledgement deletes
  them after it marks the command (one left behind is passed over: the command says);
- ``command-named#`` + a name: the commands of that name, ``sk`` their time and id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

from kenshin.adapters.dynamo_items import (
    DEVICE,
    counter_key,
    exists,
    key,
    number,
    numbers,
    partition,
    put,
    sortable,
    transact,
)
from kenshin.adapters.dynamo_tables import DynamoTables, Item, is_condition_failure
from kenshin.domain.devices import COMMAND_NAME, Command
from kenshin.errors import NotFoundError, StoreError

COMMANDS = "commands"  # the counter of the commands' ids
COMMAND = "command"
PENDING = "command-pending"  # + "#" + a device's id: that device's
NAMED = "command-named#"  # + a name
_TAKE_TRIES = 20  # rounds of taking an id another process took at the same time
_CHUNK = 100  # commands read at once (a BatchGetItem)


def check_name(name: str) -> None:
    """StoreError unless ``name`` can be a command's name (one topic level)."""
    if not COMMAND_NAME.fullmatch(name):
        raise StoreError(f"DynamoDB store: {name!r} is no command name ({COMMAND_NAME.pattern})")


class DynamoCommands:
    """The CommandQueue port in the records table: ids rising in the order added."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def add_command(
        self, device_id: str, name: str, payload: bytes | Callable[[int], bytes], at: int
    ) -> int:
        """Queue a command for a device as of ``at``; its id, higher than any given before.
        ``payload`` may be a function of that id. NotFoundError for an unknown device,
        StoreError for a name not like COMMAND_NAME."""
        check_name(name)
        for _ in range(_TAKE_TRIES):
            last = self._tables.number(COMMANDS)
            command_id = last + 1
            body = payload(command_id) if callable(payload) else payload
            command = Command(command_id, device_id, name, bytes(body), at)
            failed = transact(self._tables, self._adding(command, last), "queuing a command")
            if not failed:
                return command_id
            if failed[0]:
                raise NotFoundError(f"device {device_id!r} does not exist")
        raise StoreError(
            f"DynamoDB store: queuing a command for {device_id!r}: other processes took"
            f" each id it tried ({_TAKE_TRIES})"
        )

    def get_command(self, command_id: int) -> Command | None:
        """The command, or None."""
        item = self._tables.get(self._tables.records, key(COMMAND, _id(command_id)))
        return None if item is None else _command_of(item)

    def pending_commands(self, device_id: str) -> list[Command]:
        """The device's commands not acknowledged yet, oldest first."""
        return self._pending(f"{PENDING}#{device_id}", 0, None)

    def commands_named(self, name: str, since: int) -> list[Command]:
        """Every command called ``name`` added at or after ``since``, acknowledged or
        not, oldest first."""
        index = partition(self._tables, NAMED + name, sortable(since))
        keys = [key(COMMAND, item["sk"]["S"].split("#")[1]) for item in index]
        commands = map(_command_of, self._tables.get_many(self._tables.records, keys))
        return sorted(commands, key=lambda command: command.id)

    def commands_after(self, command_id: int, limit: int = 1000) -> list[Command]:
        """At most ``limit`` commands not acknowledged yet with an id above ``command_id``,
        of any device, oldest first."""
        return self._pending(PENDING, command_id, limit)

    def command_sent(self, command_id: int, at: int) -> None:
        """Count one more sending of the command, at ``at``; NotFoundError for an unknown id."""
        self._update(
            command_id,
            "ADD sent_count :one SET last_sent_at = :at",
            {":one": {"N": "1"}, ":at": {"N": str(at)}},
        )

    def acknowledge_command(self, command_id: int, at: int) -> None:
        """Mark the command acknowledged at ``at``; the first acknowledgement's time stays.
        A command acknowledged counts as sent at least once (at ``at`` if no sending was
        recorded). NotFoundError for an unknown id."""
        command = self._update(
            command_id,
            "SET acknowledged_at = if_not_exists(acknowledged_at, :at),"
            " last_sent_at = if_not_exists(last_sent_at, :at),"
            " sent_count = if_not_exists(sent_count, :one)",  # none recorded: 0
            {":one": {"N": "1"}, ":at": {"N": str(at)}},
        )
        pointers = [PENDING, f"{PENDING}#{command.device}"]
        deletes = [key(pk, _id(command_id)) for pk in pointers]
        self._tables.write_many(self._tables.records, deletes=deletes)

    def _adding(self, command: Command, last: int) -> list[Item]:
        """The transaction that adds ``command``, its id taken after ``last``."""
        tables, sk = self._tables, _id(command.id)
        item = {
            **key(COMMAND, sk),
            "device": {"S": command.device},
            "name": {"S": command.name},
            "payload": {"B": command.payload},
        }
        take = {
            "TableName": tables.records,
            "Key": counter_key(COMMANDS),
            "UpdateExpression": "SET n = :id",
            "ConditionExpression": "attribute_not_exists(pk) OR n = :last",
            "ExpressionAttributeValues": {":id": {"N": sk}, ":last": {"N": str(last)}},
        }
        return [
            exists(tables, DEVICE, command.device),
            {"Update": take},
            put(tables, numbers(item, {"created_at": command.created_at})),
            put(tables, key(PENDING, sk)),
            put(tables, key(f"{PENDING}#{command.device}", sk)),
            put(tables, key(NAMED + command.name, f"{sortable(command.created_at)}#{sk}")),
        ]

    def _pending(self, pk: str, after: int, limit: int | None) -> list[Command]:
        """The commands the ids in partition ``pk`` above ``after`` name that are not
        acknowledged yet, oldest first: at most ``limit`` unless None."""
        ids: Iterator[str] = (
            item["sk"]["S"] for item in partition(self._tables, pk, _id(after + 1))
        )
        found: list[Command] = []
        while limit is None or len(found) < limit:
            chunk = [key(COMMAND, sk) for sk in islice(ids, _CHUNK)]
            if not chunk:
                break
            items = self._tables.get_many(self._tables.records, chunk)
            found += sorted(
                (c for c in map(_command_of, items) if c.acknowledged_at is None),
                key=lambda command: command.id,
            )
        return found if limit is None else found[:limit]

    def _update(self, command_id: int, update: str, values: Item) -> Command:
        """Apply ``update`` to the command: it as updated. NotFoundError for an unknown id."""
        try:
            answer = self._tables.call(
                "update_item",
                TableName=self._tables.records,
                Key=key(COMMAND, _id(command_id)),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            raise NotFoundError(f"command {command_id} does not exist") from exc
        return _command_of(answer["Attributes"])


def _id(command_id: int) -> str:
    return f"{command_id:020d}"


def _command_of(item: Item) -> Command:
    return Command(
        int(item["sk"]["S"]),
        item["device"]["S"],
        item["name"]["S"],
        bytes(item["payload"]["B"]),
        int(item["created_at"]["N"]),
        number(item, "sent_count") or 0,
        number(item, "last_sent_at"),
        number(item, "acknowledged_at"),
    )
