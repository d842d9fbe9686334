"""What the DynamoDB store's parts share about the records table's items: keys, numbers
that sort as text, attribute values made from plain values and read back into them, and
small transactions.

A part keeps an item and, beside it, index items (a device's meters, a customer's
devices...) in partitions of their own. Where an item and its index items must appear
together, or a number be taken only with the item it numbers, they are written in one
TransactWriteItems of a few items (a moto transaction of a hundred takes a second; one of
six, milliseconds). Numbers in sort keys are zero-padded (``padded``, ``sortable``) so
that text order is number order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from kenshin.adapters.dynamo_tables import COUNTER, DynamoTables, Item, is_condition_failure
from kenshin.errors import StoreError

CUSTOMER = "customer"  # a customer per item, sk its id
DEVICE = "device"  # a device per item, sk its id (the store's keys: see ``dynamo``)
Value = str | int | float | bytes | tuple[str, ...] | None
_WIDTH = 12  # digits of a padded number: epoch seconds to the year 33658, ids to 10**12
_TRANSACTION_MAX = 100  # items in one TransactWriteItems
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


def item(pk: str, sk: str, **values: Value) -> Item:
    """The item ``sk`` of ``pk`` with ``values`` as attributes, those that are None left
    out: a str as S, an int or float as N, bytes as B, a tuple of str as L."""
    made = key(pk, sk)
    made.update((name, value_of(value)) for name, value in values.items() if value is not None)
    return made


def value_of(value: Value) -> dict[str, object]:
    """``value`` (not None) as an attribute value."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, tuple):
        return {"L": [{"S": part} for part in value]}
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no attribute value for {value!r}")
    return {"N": repr(value)}


def padded(number: int) -> str:
    """``number`` (not negative) as sort key text that sorts as the number does."""
    return f"{number:0{_WIDTH}d}"


def padded_time(at: float) -> str:
    """A time with fractions of a second as sort key text: rounded to the microsecond, so
    that ``at <= later`` gives ``padded_time(at) <= padded_time(later)``."""
    return f"{at:0{_WIDTH + 7}.6f}"


def text(found: Item, name: str) -> str:
    """The string attribute ``name``."""
    value: str = found[name]["S"]
    return value


def optional_text(found: Item, name: str) -> str | None:
    """The string attribute ``name``, or None where the item has none."""
    return text(found, name) if name in found else None


def integer(found: Item, name: str) -> int:
    """The number attribute ``name``, a whole one."""
    return int(found[name]["N"])


def optional_integer(found: Item, name: str) -> int | None:
    """The number attribute ``name``, or None where the item has none."""
    return integer(found, name) if name in found else None


def real(found: Item, name: str) -> float:
    """The number attribute ``name``, with its fraction."""
    return float(found[name]["N"])


def texts(found: Item, name: str) -> tuple[str, ...]:
    """The list attribute ``name``, of strings."""
    return tuple(part["S"] for part in found[name]["L"])


def blob(found: Item, name: str) -> bytes:
    """The binary attribute ``name``."""
    return bytes(found[name]["B"])


def key_of(found: Item) -> Item:
    """The key of an item read."""
    return {"pk": found["pk"], "sk": found["sk"]}


def write_all(
    tables: DynamoTables, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()
) -> None:
    """Put ``puts`` and delete the items of the keys ``deletes`` in the records table, all
    or none (at most 100 together, each key once)."""
    actions = [{"Put": {"TableName": tables.records, "Item": put}} for put in puts]
    actions += [{"Delete": {"TableName": tables.records, "Key": gone}} for gone in deletes]
    if len(actions) > _TRANSACTION_MAX:
        raise ValueError(f"{len(actions)} writes are too many for one DynamoDB transaction")
    if actions:
        transact(tables, actions, f"{len(actions)} writes")


def fits_transaction(count: int) -> bool:
    """Whether ``count`` writes fit in one transaction."""
    return count <= _TRANSACTION_MAX


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
