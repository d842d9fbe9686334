"""Items of the DynamoDB store's records table in DynamoDB's attribute-value form: made
from plain values, read back into them, and a few written in one transaction.

Numbers in sort keys are zero-padded (``padded``) so that text order is number order.
"""

from __future__ import annotations

from collections.abc import Sequence

from kenshin.adapters.dynamo_tables import DynamoTables, Item

Value = str | int | float | bytes | tuple[str, ...] | None
_WIDTH = 12  # digits of a padded number: epoch seconds to the year 33658, ids to 10**12
_TRANSACTION_MAX = 100  # items in one TransactWriteItems


def key(pk: str, sk: str) -> Item:
    """The key of the item ``sk`` of the partition ``pk``."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


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


def transact(tables: DynamoTables, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
    """Put ``puts`` and delete the items of the keys ``deletes`` in the records table, all
    or none (at most 100 together, each key once)."""
    actions = [{"Put": {"TableName": tables.records, "Item": put}} for put in puts]
    actions += [{"Delete": {"TableName": tables.records, "Key": gone}} for gone in deletes]
    if len(actions) > _TRANSACTION_MAX:
        raise ValueError(f"{len(actions)} writes are too many for one DynamoDB transaction")
    if actions:
        tables.call("transact_write_items", TransactItems=actions)


def fits_transaction(count: int) -> bool:
    """Whether ``count`` writes fit in one transaction."""
    return count <= _TRANSACTION_MAX
