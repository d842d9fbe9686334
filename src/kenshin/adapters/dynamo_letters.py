"""Dead letters and file revisions in DynamoDB's records table (the DynamoStore's
``dead_letters`` and ``revisions``), and the numbered log that keeps each dead letter
and each conflict of readings once.

Keys (``pk``, ``sk``) this part owns:

- ``dead-letter``, the letter's number (20 digits): a dead letter, in the order kept;
- ``dead-letter-once``, the SHA-256 of its source, device, reason and payload: the
  number of the letter that is kept once;
- ``dead-letter-at``, when the letter was received (12 digits) ``#`` its number: the
  letters by time, small items a count or a read ``since`` a time goes through, not
  reading the letters' payloads;
- ``revision#{day}#{customer}``, the revision's number (10 digits): a revision of a
  customer's day file;
- ``counter``, ``dead-letter``: the letters' numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, fields
from itertools import islice
from typing import Any

from kenshin.adapters.dynamo_lock import LeaseLock
from kenshin.adapters.dynamo_tables import DynamoTables, Item, is_condition_failure
from kenshin.domain.model import DeadLetter, FileRevision

EXPORT_WAIT_S = 900.0  # another export of the customer's files, waited for this long
LETTERS = "dead-letter"  # the log of dead letters, and its counter
_LETTER_ONCE = "dead-letter-once"
_LETTER_AT = "dead-letter-at"
_REVISION_FIELDS = [f.name for f in fields(FileRevision)]


def number_key(number: int) -> str:
    """A number as a sort key that sorts as the number does."""
    return f"{number:020d}"


class NumberedLog:
    """Entries of the records table numbered in the order kept (``pk`` = the log's name,
    ``sk`` = the number), each once: a marker item says which number an entry has.

    The marker is written first, then the entry; a crash between leaves a marker
    without its entry, and the same entry offered again writes it then."""

    def __init__(self, tables: DynamoTables, name: str) -> None:
        self._tables = tables
        self.name = name

    def add(
        self,
        entries: Sequence[tuple[Item, Item]],
        companion: Callable[[int, Item], Item] | None = None,
    ) -> None:
        """Keep each (marker, entry) whose marker (an item: key and attributes) is not
        there yet; ``entry`` is the attributes of the log's item, without its key. With
        ``companion``, the item it makes of each entry written (its number, the entry)
        is written too, before the entries (one without its entry is written again with
        it when the entry is offered again)."""
        if not entries:
            return
        last = self._tables.next_number(self.name, len(entries))
        puts: dict[int, Item] = {}
        for number, (marker, entry) in enumerate(entries, last - len(entries) + 1):
            kept = self._mark(marker, number)
            if kept not in puts and (kept == number or not self._has(kept)):
                puts[kept] = {"pk": {"S": self.name}, "sk": {"S": number_key(kept)}, **entry}
        companions = [companion(n, entry) for n, entry in puts.items()] if companion else []
        self._tables.write_many(self._tables.records, [*companions, *puts.values()])

    def read(self, since: int | None = None, projection: str | None = None) -> Iterator[Item]:
        """The log's entries, oldest first; with ``since``, those whose ``at`` (when
        received) is then or later; with ``projection``, only those attributes."""
        request: Item = {
            "KeyConditionExpression": "pk = :log",
            "ExpressionAttributeValues": {":log": {"S": self.name}},
        }
        if since is not None:
            request["FilterExpression"] = "#at >= :since"
            request["ExpressionAttributeNames"] = {"#at": "at"}
            request["ExpressionAttributeValues"][":since"] = {"N": str(since)}
        if projection is not None:
            request["ProjectionExpression"] = projection
        return self._tables.query(self._tables.records, **request)

    def _mark(self, marker: Item, number: int) -> int:
        """Write ``marker`` with ``number`` unless there is one: the number it has."""
        try:
            self._tables.call(
                "put_item",
                TableName=self._tables.records,
                Item={**marker, "n": {"N": str(number)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            found = self._tables.get(self._tables.records, {k: marker[k] for k in ("pk", "sk")})
            return number if found is None else int(found["n"]["N"])
        return number

    def _has(self, number: int) -> bool:
        key = {"pk": {"S": self.name}, "sk": {"S": number_key(number)}}
        return self._tables.get(self._tables.records, key) is not None


class DynamoDeadLetters:
    """The DeadLetters port: letters in the order kept, each once, and found by time."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._log = NumberedLog(tables, LETTERS)

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons; each one once."""
        self._log.add([(_letter_marker(d), _letter_item(d)) for d in letters], _by_time)

    def list_dead_letters(
        self, limit: int = 1000, since: int | None = None, *, newest: bool = False
    ) -> list[DeadLetter]:
        """At most ``limit`` dead letters in the order kept; with ``since``, those received
        then or later, by when received; with ``newest``, the ``limit`` received last,
        newest first."""
        if since is None and not newest:
            return [_letter(item) for item in islice(self._log.read(), max(limit, 0))]
        request = {**_since(since or 0), "ScanIndexForward": not newest}
        found = islice(self._tables.query(self._tables.records, **request), max(limit, 0))
        numbers = [int(item["n"]["N"]) for item in found]
        keys = [{"pk": {"S": LETTERS}, "sk": {"S": number_key(n)}} for n in numbers]
        letters = {
            item["sk"]["S"]: item for item in self._tables.get_many(self._tables.records, keys)
        }
        return [_letter(letters[number_key(n)]) for n in numbers if number_key(n) in letters]

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""
        request: dict[str, object] = {**_since(since or 0), "Select": "COUNT"}
        total = 0
        while True:
            answer = self._tables.call("query", TableName=self._tables.records, **request)
            total += int(answer.get("Count", 0))
            if "LastEvaluatedKey" not in answer:
                return total
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _by_time(number: int, letter: Item) -> Item:
    """The letter's item among the letters by time."""
    at = max(int(letter["at"]["N"]), 0)
    key = f"{at:012d}#{number_key(number)}"
    return {"pk": {"S": _LETTER_AT}, "sk": {"S": key}, "n": {"N": str(number)}}


def _since(since: int) -> dict[str, object]:
    """A Query of the letters by time received at ``since`` or later."""
    return {
        "KeyConditionExpression": "pk = :at AND sk >= :since",
        "ExpressionAttributeValues": {
            ":at": {"S": _LETTER_AT},
            ":since": {"S": f"{max(since, 0):012d}#"},
        },
    }


def _letter_marker(letter: DeadLetter) -> Item:
    digest = hashlib.sha256()
    for part in (letter.source, letter.device or "", letter.reason):
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    digest.update(b"\x01" if letter.device is None else b"\x00")
    digest.update(letter.payload)
    return {"pk": {"S": _LETTER_ONCE}, "sk": {"S": digest.hexdigest()}}


def _letter_item(letter: DeadLetter) -> Item:
    item: Item = {
        "source": {"S": letter.source},
        "reason": {"S": letter.reason},
        "payload": {"B": letter.payload},
        "at": {"N": str(letter.received_at)},
    }
    if letter.device is not None:
        item["device"] = {"S": letter.device}
    return item


def _letter(item: Item) -> DeadLetter:
    device = item.get("device")
    return DeadLetter(
        item["source"]["S"],
        item["reason"]["S"],
        bytes(item["payload"]["B"]),
        int(item["at"]["N"]),
        None if device is None else device["S"],
    )


class DynamoRevisions:
    """The Revisions port: a partition per customer's day file, revisions by number."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    @contextmanager
    def exporting(self, customer_id: str) -> Iterator[None]:
        """A lease of the customer's exports in the records table (``LeaseLock``), waited
        for as long as a customer's largest export may take."""
        with LeaseLock(self._tables, f"export#{customer_id}", wait_s=EXPORT_WAIT_S).held():
            yield

    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""
        return next(self._revisions(customer_id, day, newest_first=True), None)

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision, or replace the one with the same number."""
        item: Item = {
            "pk": {"S": _revision_file(revision.customer, revision.day)},
            "sk": {"S": f"{revision.revision:010d}"},
        }
        for name, value in zip(_REVISION_FIELDS, astuple(revision), strict=True):
            item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        self._tables.call("put_item", TableName=self._tables.records, Item=item)

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""
        return list(self._revisions(customer_id, day))

    def _revisions(
        self, customer_id: str, day: str, *, newest_first: bool = False
    ) -> Iterator[FileRevision]:
        items = self._tables.query(
            self._tables.records,
            KeyConditionExpression="pk = :file",
            ExpressionAttributeValues={":file": {"S": _revision_file(customer_id, day)}},
            ScanIndexForward=not newest_first,
        )
        for item in items:
            values = [item[name] for name in _REVISION_FIELDS]
            found: list[Any] = [int(v["N"]) if "N" in v else v["S"] for v in values]
            yield FileRevision(*found)


def _revision_file(customer_id: str, day: str) -> str:
    """The partition of a customer's day file: the day first, as it has no '#'."""
    return f"revision#{day}#{customer_id}"
