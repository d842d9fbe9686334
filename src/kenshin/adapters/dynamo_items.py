"""What the DynamoDB registry's parts (``dynamo_registry``, ``dynamo_certificates``,
``dynamo_commands``) share: keys, numbers that sort as text, and small transactions.

A part keeps an item and, beside it, index items (a device's meters, a customer's
devices...) in partitions of their own. Where an item and its index items must appear
together, or a number be taken only with the item it numbers, they are written in one
TransactWriteItems of a few items (a moto transaction of a hundred takes a second; one of
six, milliseconds).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from kenshin.adapters.dynamo_tables import COUNTER, DynamoTables, Item, is_condition_failure
from kenshin.errors import StoreError

CUSTOMER = "customer"  # a customer per item, sk its id
DEVICE = "device"  # a device per item, sk its id (the store's keys: see ``dynamo``)
_SIGNED = 2**63  # added to a signed 64-bit number: 0 .. 2**64-1, 20 digits
_CONFLICT_TRIES = 10  # rounds of a transaction that met another at once


def key(pk: str, sk: str) -> Item:
    """The key of the records table's item ``pk``, ``sk``."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def counter_key(name: str) -> Item:
    """The key of the counter ``name`` (``DynamoTables.next_number``'s items)."""
    return key(COUNTER, name)


def sortable(number: int) -> str:
    """A signed 64-bit number as 20 digits that sort as text as the numbers do."""
    return f"{number + _SIGNED:020d}"


def from_sortable(text: str) -> int:
    """The number ``sortable`` gave ``text`` for."""
    return int(text) - _SIGNED


def number(item: Item, name: str) -> int | None:
    """The item's number attribute ``name``, or None where it has none."""
    value = item.get(name)
    return None if value is None else int(value["N"])


def numbers(item: Item, values: dict[str, int | None]) -> Item:
    """``item`` with a number attribute for each of ``values`` that is not None."""
    for name, value in values.items():
        if value is not None:
            item[name] = {"N": str(value)}
    return item


def partition(tables: DynamoTables, pk: str, since: str | None = None) -> Iterator[Item]:
    """Every item of the records table's partition ``pk`` by ``sk``, from ``since`` on."""
    condition, values = "pk = :pk", {":pk": {"S": pk}}
    if since is not None:
        condition, values[":since"] = f"{condition} AND sk >= :since", {"S": since}
    return tables.query(
        tables.records, KeyConditionExpression=condition, ExpressionAttributeValues=values
    )


def written(tables: DynamoTables, operation: str, **request: object) -> bool:
    """Whether the conditional write ``operation`` (put_item, update_item, delete_item)
    was made: False where its condition failed."""
    try:
        tables.call(operation, **request)
    except Exception as exc:
        if not is_condition_failure(exc):
            raise
        return False
    return True


def put(tables: DynamoTables, item: Item, condition: str | None = None) -> Item:
    """A Put of ``item`` in the records table for ``transact``, on ``condition``."""
    request: Item = {"TableName": tables.records, "Item": item}
    if condition is not None:
        request["ConditionExpression"] = condition
    return {"Put": request}


def exists(tables: DynamoTables, pk: str, sk: str) -> Item:
    """A ConditionCheck for ``transact``: the item ``pk``, ``sk`` is there."""
    return {
        "ConditionCheck": {
            "TableName": tables.records,
            "Key": key(pk, sk),
            "ConditionExpression": "attribute_exists(pk)",
        }
    }


def transact(tables: DynamoTables, actions: Sequence[Item], what: str) -> list[bool]:
    """Write ``actions`` (TransactWriteItems' entries) as one: an empty list if written;
    else, refused, whether each action's condition failed. A transaction that met another
    at once is tried again; StoreError naming ``what`` if AWS refuses it otherwise."""
    for attempt in range(_CONFLICT_TRIES):
        try:
            tables.call("transact_write_items", TransactItems=list(actions))
        except StoreError as exc:
            codes = _cancellation_codes(exc.__cause__)
            if "ConditionalCheckFailed" in codes:
                return [code == "ConditionalCheckFailed" for code in codes]
            if "TransactionConflict" not in codes:
                raise
            time.sleep(min(0.01 * 2**attempt, 0.5))
        else:
            return []
    raise StoreError(f"DynamoDB store: {what} kept meeting other writes: tried {_CONFLICT_TRIES}")


def _cancellation_codes(exc: BaseException | None) -> list[str]:
    """The reasons AWS gave for a transaction it cancelled, one code per action (none
    where ``exc`` is no cancellation)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return []
    return [str(reason.get("Code", "")) for reason in response.get("CancellationReasons", ())]
