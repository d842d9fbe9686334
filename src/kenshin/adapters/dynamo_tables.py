"""The DynamoDB store's two tables and the calls every part of it makes through them.

- ``{prefix}readings``: register readings, one item per meter and UTC day (partition
  key ``pk``: the meter id; sort key ``sk``: the day's number, epoch s // 86,400), so
  that a day of a meter is one GetItem and a day of 100,000 meters 1,000 BatchGetItems.
- ``{prefix}records``: everything else (the registry, certificates, commands, dead
  letters, revisions, deliveries, alerts, unit clocks, counters), ``pk`` and ``sk``
  both strings. Each part of the store owns the partition keys of its own prefixes
  (listed in its module); counters are items ``pk = "counter"``.

Both tables are on demand, with point-in-time recovery and a customer-managed KMS key
(the CDK stack makes them from ``TABLES``: the key schema is written once, here).
DynamoDB has no transaction over more than 100 items, and a large one costs twice the
writes (on moto, seconds): the parts write item by item with conditions, in small
transactions where an item and its index items must appear together
(``dynamo_items.transact``), and say in their docstrings what that means for their
port's rules (a batch of readings is not atomic, and need not be: storing it again is
idempotent).

boto3 is the optional extra ``aws``: imported when tables are opened, not with this module.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kenshin.errors import ConfigError, StoreError

READINGS = "readings"
RECORDS = "records"
# table -> (partition key, its type), (sort key, its type): S string, N number.
TABLES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    READINGS: (("pk", "S"), ("sk", "N")),
    RECORDS: (("pk", "S"), ("sk", "S")),
}
COUNTER = "counter"  # the partition of the counters in the records table
METERS = "meters"  # the counter of meters registered (Registry.last_meter)
BATCHES = "batches"  # the counter of batches of readings (Readings.last_batch)
_GET_MAX = 100  # keys in one BatchGetItem
_WRITE_MAX = 25  # requests in one BatchWriteItem
_RETRIES = 8  # rounds of unprocessed keys or items before giving up

Item = dict[str, Any]  # an item in DynamoDB's attribute-value form ({"S": ...}, {"N": ...})


@dataclass(frozen=True)
class DynamoUrl:
    """Where the store's tables are: ``dynamodb://PREFIX?region=REGION&endpoint=URL``.

    The tables are ``{PREFIX}readings`` and ``{PREFIX}records``; region and endpoint are
    optional (the environment's region; AWS's own endpoint)."""

    prefix: str
    region: str | None = None
    endpoint: str | None = None

    @classmethod
    def parse(cls, url: str) -> DynamoUrl:
        """The parts of ``url``; ConfigError saying what is expected otherwise."""
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"region", "endpoint"})
        prefix = parts.netloc + parts.path
        if parts.scheme != "dynamodb" or not prefix or unknown:
            raise ConfigError(
                f"store.url: {url!r} is no DynamoDB store: give dynamodb://PREFIX"
                " (the tables PREFIXreadings and PREFIXrecords), optionally with"
                " ?region=REGION&endpoint=URL"
            )
        return cls(prefix, query.get("region"), query.get("endpoint"))


class DynamoTables:
    """The two tables of one store and the calls on them: each call's failure a
    StoreError naming the table and what AWS said."""

    def __init__(self, prefix: str, client: object) -> None:
        self.client = client
        self.readings = f"{prefix}{READINGS}"
        self.records = f"{prefix}{RECORDS}"

    @classmethod
    def open(cls, url: str, client: object | None = None) -> DynamoTables:
        """The tables ``url`` names (``DynamoUrl``), through ``client`` or a boto3
        client made from the environment's credentials."""
        where = DynamoUrl.parse(url)
        if client is None:
            client = _boto3().client(
                "dynamodb", region_name=where.region, endpoint_url=where.endpoint
            )
        return cls(where.prefix, client)

    def call(self, operation: str, **request: object) -> dict[str, Any]:
        """The client's ``operation`` with ``request``; StoreError if AWS refuses it.
        A ConditionalCheckFailedException is raised as it is (callers settle it)."""
        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**request)
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise
            table = request.get("TableName", "the store's tables")
            raise StoreError(f"DynamoDB {operation} on {table} failed: {exc}") from exc
        return answer

    def next_number(self, name: str, count: int = 1) -> int:
        """Take ``count`` numbers of the counter ``name`` (1, 2, ...): the last taken."""
        answer = self.call(
            "update_item",
            TableName=self.records,
            Key={"pk": {"S": COUNTER}, "sk": {"S": name}},
            UpdateExpression="ADD n :count",
            ExpressionAttributeValues={":count": {"N": str(count)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["n"]["N"])

    def number(self, name: str) -> int:
        """The last number the counter ``name`` gave (0 if none), read consistently."""
        item = self.get(self.records, {"pk": {"S": COUNTER}, "sk": {"S": name}})
        return int(item["n"]["N"]) if item else 0

    def get(self, table: str, key: Item) -> Item | None:
        """The item with ``key``, read consistently, or None."""
        answer = self.call("get_item", TableName=table, Key=key, ConsistentRead=True)
        item: Item | None = answer.get("Item")
        return item

    def query(self, table: str, **request: object) -> Iterator[Item]:
        """Every item a Query gives, page after page, read consistently."""
        request = {"TableName": table, "ConsistentRead": True, **request}
        while True:
            answer = self.call("query", **request)
            yield from answer.get("Items", ())
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def get_many(self, table: str, keys: Sequence[Item]) -> list[Item]:
        """The items of ``keys`` that exist, read consistently, in no set order."""
        found: list[Item] = []
        for start in range(0, len(keys), _GET_MAX):
            pending: Mapping[str, Any] = {
                table: {"Keys": list(keys[start : start + _GET_MAX]), "ConsistentRead": True}
            }
            for attempt in range(_RETRIES):
                answer = self.call("batch_get_item", RequestItems=pending)
                found.extend(answer.get("Responses", {}).get(table, ()))
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                _back_off(attempt)
            else:
                raise StoreError(f"DynamoDB kept keys of {table} unprocessed: throttled")
        return found

    def write_many(
        self, table: str, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()
    ) -> None:
        """Put ``puts`` and delete the items of the keys ``deletes``, unconditionally, in
        BatchWriteItems (not one transaction)."""
        requests = [{"PutRequest": {"Item": item}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key}} for key in deletes]
        for start in range(0, len(requests), _WRITE_MAX):
            pending: Mapping[str, Any] = {table: requests[start : start + _WRITE_MAX]}
            for attempt in range(_RETRIES):
                answer = self.call("batch_write_item", RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                _back_off(attempt)
            else:
                raise StoreError(f"DynamoDB kept writes to {table} unprocessed: throttled")

    def create(self) -> None:
        """Create both tables, on demand, where they do not exist (tests and trials; the
        CDK stack makes them on AWS, with PITR and the stage's key)."""
        existing = self._existing()
        made = []
        for name, table in ((READINGS, self.readings), (RECORDS, self.records)):
            if table in existing:
                continue
            made.append(table)
            (hash_key, hash_type), (range_key, range_type) = TABLES[name]
            self.call(
                "create_table",
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": hash_key, "AttributeType": hash_type},
                    {"AttributeName": range_key, "AttributeType": range_type},
                ],
            )
        for table in made:  # a new table takes writes once active, some seconds on AWS
            self._active(table)

    def _existing(self) -> set[str]:
        """The names of every table in the account and region, page after page."""
        names: set[str] = set()
        request: dict[str, object] = {}
        while True:
            answer = self.call("list_tables", **request)
            names.update(answer.get("TableNames", ()))
            if "LastEvaluatedTableName" not in answer:
                return names
            request["ExclusiveStartTableName"] = answer["LastEvaluatedTableName"]

    def _active(self, table: str) -> None:
        """Wait until ``table`` is active; StoreError if it is not within 5 minutes."""
        try:
            client: Any = self.client
            waiter = client.get_waiter("table_exists")
            waiter.wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        except Exception as exc:
            raise StoreError(f"DynamoDB table {table} did not become active: {exc}") from exc

    def check(self) -> None:
        """StoreError unless both tables can be reached and are active."""
        for table in (self.readings, self.records):
            status = self.call("describe_table", TableName=table)["Table"]["TableStatus"]
            if status not in ("ACTIVE", "UPDATING"):
                raise StoreError(f"DynamoDB table {table} is {status}, not ACTIVE")


def is_condition_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is DynamoDB's refusal of a write whose condition failed."""
    return _code(exc) == "ConditionalCheckFailedException"


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _back_off(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 2.0))


def _boto3() -> ModuleType:
    try:
        return importlib.import_module("boto3")
    except ImportError as exc:
        raise ConfigError(
            "store.url names a DynamoDB store, but boto3 is not installed:"
            " pip install 'kenshin[aws]'"
        ) from exc
