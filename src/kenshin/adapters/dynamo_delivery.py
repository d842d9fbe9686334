"""Customers' accounts, receipts, unlock requests and failed logins in DynamoDB: the
DynamoStore's ``deliveries``, in the records table under these partition keys:

- ``account``: an account, ``sk`` the customer's id;
- ``receipt``: every receipt by time, ``sk`` its time and id (padded: ``at#id``);
- ``receipt#{customer}``: the customer's receipts by file, ``sk`` ``{file}/{at}#{id}``
  (a file's name has no slash), so that the first collection of a file reads that file's;
- ``unlock``: an unlock request, ``sk`` its id; ``unlock_pending``: the id of each one not
  yet applied (what the file servers poll), taken away once it is (a request is pending
  while it has no ``done_at``: a mark left by a finish cut short is taken away when read);
- ``login_failure#{address}``: the failed logins from the address, ``sk`` their time
  (to the microsecond) and number: ``at#n``;
- ``login_failure``: every failed login kept, by the same ``sk``, with its address: those
  too old are found and forgotten from here, and the addresses a customer's came from.

Ids come from the counters ``receipt``, ``unlock`` and ``login_failure``. A receipt and
a failed login are two items written in one transaction. A customer is never removed,
so an account is written once its customer is seen (``pk = "customer"``, dynamo_registry).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from kenshin.adapters.dynamo_items import (
    integer,
    item,
    key,
    optional_integer,
    optional_text,
    padded,
    padded_time,
    real,
    text,
    texts,
    write_all,
)
from kenshin.adapters.dynamo_tables import DynamoTables, Item, is_condition_failure
from kenshin.domain.accounts import Account, LoginFailure, Receipt, UnlockRequest
from kenshin.errors import NotFoundError

ACCOUNT = "account"
RECEIPT = "receipt"
UNLOCK = "unlock"
PENDING = "unlock_pending"
FAILURE = "login_failure"


class DynamoDeliveries:
    """Deliveries in the records table of ``tables``."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._table = tables.records

    def save_account(self, account: Account) -> None:
        """Create or replace the customer's account; NotFoundError for an unknown customer."""
        if self._tables.get(self._table, key("customer", account.customer)) is None:
            raise NotFoundError(f"customer {account.customer!r} does not exist")
        found = item(
            ACCOUNT,
            account.customer,
            password_hash=account.password_hash,
            ssh_keys=account.ssh_keys,
            allowed=account.allowed,
        )
        self._tables.call("put_item", TableName=self._table, Item=found)

    def get_account(self, customer_id: str) -> Account | None:
        """The customer's account, or None."""
        found = self._tables.get(self._table, key(ACCOUNT, customer_id))
        if found is None:
            return None
        hashed = optional_text(found, "password_hash")
        return Account(customer_id, hashed, texts(found, "ssh_keys"), texts(found, "allowed"))

    def add_receipt(self, receipt: Receipt) -> None:
        """Record a completed download."""
        number = self._tables.next_number(RECEIPT)
        when = f"{padded(receipt.at)}#{padded(number)}"
        values = {
            "customer": receipt.customer,
            "file_name": receipt.file_name,
            "revision": receipt.revision,
            "bytes": receipt.bytes,
            "protocol": receipt.protocol,
            "address": receipt.address,
            "at": receipt.at,
        }
        by_file = f"{receipt.file_name}/{when}"
        write_all(
            self._tables,
            [
                item(RECEIPT, when, **values),
                item(f"{RECEIPT}#{receipt.customer}", by_file, **values),
            ],
        )

    def list_receipts(
        self, customer_id: str | None = None, since: int | None = None
    ) -> list[Receipt]:
        """Receipts oldest first, optionally of one customer and at or after ``since``."""
        if customer_id is None:
            start = padded(since) if since is not None else None
            return [_receipt(r) for r in self._after(RECEIPT, start)]
        found = self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk",
            FilterExpression="#at >= :since",
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues={
                ":pk": {"S": f"{RECEIPT}#{customer_id}"},
                ":since": {"N": str(since if since is not None else 0)},
            },
        )
        ordered = sorted(found, key=lambda r: r["sk"]["S"].rsplit("/", 1)[1])
        return [_receipt(r) for r in ordered]

    def first_collected(self, customer_id: str, file_name: str, revision: int) -> Receipt | None:
        """The first receipt of the file at ``revision`` or a later one, or None."""
        found = self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :file)",
            FilterExpression="file_name = :name AND revision >= :revision",
            ExpressionAttributeValues={
                ":pk": {"S": f"{RECEIPT}#{customer_id}"},
                ":file": {"S": f"{file_name}/"},
                ":name": {"S": file_name},
                ":revision": {"N": str(revision)},
            },
        )
        first = next(found, None)
        return None if first is None else _receipt(first)

    def request_unlock(self, customer_id: str, address: str | None, at: int) -> int:
        """Record a request to clear the customer's failed logins; its id."""
        number = self._tables.next_number(UNLOCK)
        request = item(
            UNLOCK, padded(number), customer=customer_id, address=address, requested_at=at
        )
        write_all(self._tables, [request, item(PENDING, padded(number))])
        return number

    def get_unlock(self, request_id: int) -> UnlockRequest | None:
        """The unlock request, or None."""
        if request_id < 0:
            return None
        found = self._tables.get(self._table, key(UNLOCK, padded(request_id)))
        return None if found is None else _unlock(found)

    def pending_unlocks(self) -> list[UnlockRequest]:
        """The unlock requests not yet applied, oldest first."""
        marks = list(self._after(PENDING))
        if not marks:
            return []
        keys = [key(UNLOCK, mark["sk"]["S"]) for mark in marks]
        requests = [_unlock(found) for found in self._tables.get_many(self._table, keys)]
        done = [key(PENDING, padded(r.id)) for r in requests if r.done_at is not None]
        self._tables.write_many(self._table, deletes=done)  # left by a finish cut short
        return sorted((r for r in requests if r.done_at is None), key=lambda r: r.id)

    def finish_unlock(self, request_id: int, cleared: Sequence[str], at: int) -> None:
        """Record that the request was applied at ``at``, and what it cleared, unless that
        was recorded already (another file server on the store applied it first); then
        it is no longer pending (read as pending only while it has no ``done_at``)."""
        try:
            self._tables.call(
                "update_item",
                TableName=self._table,
                Key=key(UNLOCK, padded(request_id)),
                UpdateExpression="SET done_at = :at, cleared = :cleared",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(done_at)",
                ExpressionAttributeValues={
                    ":at": {"N": str(at)},
                    ":cleared": {"L": [{"S": line} for line in cleared]},
                },
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
        self._tables.call(
            "delete_item", TableName=self._table, Key=key(PENDING, padded(request_id))
        )

    def add_login_failure(self, failure: LoginFailure, forget_before: float) -> None:
        """Record a failed login; forget those of every address before ``forget_before``."""
        old = (
            (found["sk"]["S"], _failure(found, text(found, "address")))
            for found in self._before(FAILURE, f"{padded_time(forget_before)}$")
        )
        self._forget(pair for pair in old if pair[1].at < forget_before)
        number = self._tables.next_number(FAILURE)
        when = f"{padded_time(failure.at)}#{padded(number)}"
        values = {"customer": failure.customer, "at": failure.at}
        write_all(
            self._tables,
            [
                item(FAILURE, when, address=failure.address, **values),
                item(f"{FAILURE}#{failure.address}", when, **values),
            ],
        )

    def login_failures(self, address: str, since: float) -> list[LoginFailure]:
        """The failed logins from ``address`` at or after ``since``, oldest first."""
        found = self._after(f"{FAILURE}#{address}", padded_time(since))
        failures = (_failure(f, address) for f in found)
        return [f for f in failures if f.at >= since]

    def clear_login_failures(self, customer_id: str, address: str | None) -> list[LoginFailure]:
        """Forget every failed login from ``address`` or, if None, from each address the
        customer's came from; those forgotten, oldest first."""
        if address is not None:
            places = {address}
        else:
            kept = self._tables.query(
                self._table,
                KeyConditionExpression="pk = :pk",
                FilterExpression="customer = :customer",
                ProjectionExpression="address",
                ExpressionAttributeValues={
                    ":pk": {"S": FAILURE},
                    ":customer": {"S": customer_id},
                },
            )
            places = {text(found, "address") for found in kept}
        gone = [
            (found["sk"]["S"], _failure(found, place))
            for place in sorted(places)
            for found in self._after(f"{FAILURE}#{place}")
        ]
        self._forget(gone)
        return [failure for _, failure in sorted(gone, key=lambda p: (p[1].at, p[0]))]

    def _forget(self, failures: Iterable[tuple[str, LoginFailure]]) -> None:
        """Delete failed logins, each with its ``sk``, from both their partitions."""
        keys: list[Item] = []
        for when, failure in failures:
            keys += [key(f"{FAILURE}#{failure.address}", when), key(FAILURE, when)]
        self._tables.write_many(self._table, deletes=keys)

    def _after(self, pk: str, start: str | None = None) -> Iterator[Item]:
        """The items of ``pk`` (those whose ``sk`` is ``start`` or after), in order."""
        if start is None:
            return self._tables.query(
                self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
            )
        return self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND sk >= :start",
            ExpressionAttributeValues={":pk": {"S": pk}, ":start": {"S": start}},
        )

    def _before(self, pk: str, end: str) -> Iterator[Item]:
        """The items of ``pk`` whose ``sk`` is before ``end``, in order."""
        return self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND sk < :end",
            ExpressionAttributeValues={":pk": {"S": pk}, ":end": {"S": end}},
        )


def _receipt(found: Item) -> Receipt:
    return Receipt(
        text(found, "customer"),
        text(found, "file_name"),
        optional_integer(found, "revision"),
        integer(found, "bytes"),
        text(found, "protocol"),
        text(found, "address"),
        integer(found, "at"),
    )


def _unlock(found: Item) -> UnlockRequest:
    return UnlockRequest(
        int(found["sk"]["S"]),
        text(found, "customer"),
        optional_text(found, "address"),
        integer(found, "requested_at"),
        optional_integer(found, "done_at"),
        texts(found, "cleared") if "cleared" in found else (),
    )


def _failure(found: Item, address: str) -> LoginFailure:
    return LoginFailure(address, optional_text(found, "customer"), real(found, "at"))
