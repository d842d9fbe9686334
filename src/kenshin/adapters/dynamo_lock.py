"""A lock among processes in the DynamoDB store's records table, which has no advisory
lock: a lease.

The lock is the item ``pk = "lock"``, ``sk`` = its name, naming its holder (a token of
its own per taking) and until when it holds it (epoch ms). Taking it is a conditional
PutItem, if there is no such item or its lease has run out; while it is held, a thread
renews the lease every third of it; letting go is a DeleteItem on condition that the
holder is still the same. A process that dies holding it (a Lambda stopped mid-batch)
keeps the others waiting until its lease runs out. The holders' clocks are compared: a
lease is much longer than they differ by.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kenshin.adapters.dynamo_items import key, written
from kenshin.adapters.dynamo_tables import DynamoTables, Item
from kenshin.errors import StoreError

log = logging.getLogger(__name__)

LOCK = "lock"  # the partition of the locks
LEASE_S = 30.0
WAIT_S = 60.0
_FIRST_PAUSE_S = 0.02  # between tries while another holds it, doubled up to _LAST_PAUSE_S
_LAST_PAUSE_S = 0.5


class LeaseLock:
    """The lock ``name``, held ``lease_s`` at a time (renewed every ``renew_s``, a third
    of it unless given) and waited for ``wait_s`` at most; ``clock`` gives epoch seconds
    and ``sleep`` waits between tries."""

    def __init__(
        self,
        tables: DynamoTables,
        name: str,
        *,
        lease_s: float = LEASE_S,
        wait_s: float = WAIT_S,
        renew_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._tables = tables
        self._name = name
        self._lease_s = lease_s
        self._wait_s = wait_s
        self._renew_s = lease_s / 3 if renew_s is None else renew_s
        self._clock = clock
        self._sleep = sleep

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock while the context lasts; StoreError if another held it all the
        ``wait_s`` this waited."""
        owner = secrets.token_hex(16)
        self._take(owner)
        stop = threading.Event()
        renewal = threading.Thread(target=self._renew, args=(owner, stop), daemon=True)
        renewal.start()
        try:
            yield
        finally:
            stop.set()
            renewal.join()
            self._let_go(owner)

    def _take(self, owner: str) -> None:
        deadline = self._clock() + self._wait_s
        pause = _FIRST_PAUSE_S
        while True:
            now = self._clock()
            if written(
                self._tables,
                "put_item",
                TableName=self._tables.records,
                Item={**self._key(), "owner": {"S": owner}, "expires": self._expiry(now)},
                ConditionExpression="attribute_not_exists(pk) OR expires < :now",
                ExpressionAttributeValues={":now": _ms(now)},
            ):
                return
            if now >= deadline:
                raise StoreError(
                    f"DynamoDB store: the lock {self._name!r} was held by another process"
                    f" for all of {self._wait_s:g} s this waited for it"
                )
            self._sleep(pause)
            pause = min(pause * 2, _LAST_PAUSE_S)

    def _renew(self, owner: str, stop: threading.Event) -> None:
        """Push the lease on until ``stop`` is set: while the lock is held."""
        while not stop.wait(self._renew_s):
            try:
                kept = self._if_held(owner, "update_item", self._expiry(self._clock()))
            except StoreError as exc:  # tried again at the next turn
                log.warning("the lease of the lock %r was not renewed: %s", self._name, exc)
                continue
            if not kept:
                log.error("the lock %r was taken over: its lease ran out", self._name)
                return

    def _let_go(self, owner: str) -> None:
        if not self._if_held(owner, "delete_item"):
            log.error(
                "the lock %r was taken over while held (its lease ran out): what was"
                " written under it may have been written over",
                self._name,
            )

    def _if_held(self, owner: str, operation: str, expires: Item | None = None) -> bool:
        """Delete the lock's item, or update its lease to ``expires``, if ``owner`` still
        holds it: whether it did."""
        values: Item = {":owner": {"S": owner}}
        request: Item = {}
        if expires is not None:
            values[":expires"] = expires
            request["UpdateExpression"] = "SET expires = :expires"
        return written(
            self._tables,
            operation,
            TableName=self._tables.records,
            Key=self._key(),
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues=values,
            **request,
        )

    def _key(self) -> dict[str, dict[str, str]]:
        return key(LOCK, self._name)

    def _expiry(self, now: float) -> dict[str, str]:
        return _ms(now + self._lease_s)


def _ms(seconds: float) -> dict[str, str]:
    """Epoch seconds as a number attribute of whole milliseconds."""
    return {"N": str(round(seconds * 1000))}
