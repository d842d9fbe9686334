"""Alert state, notification queues, security events and export failures in DynamoDB:
the DynamoStore's ``alerts``, in the records table under these partition keys:

- ``alert``: an active alert's state, ``sk`` its key;
- ``queue#{channel}``: the notifications waiting for the channel, ``sk`` their id
  (padded), so that a channel's queue is one Query, oldest first;
- ``queue_channel``: each channel anything was ever queued for, ``sk`` its name: the
  queues there are (a channel is a name in the configuration: there are a few);
- ``security_event``: security events, ``sk`` their time and id (padded: ``at#id``).
  One partition, not one a day: the writes of a day would go to one partition either
  way, and a key condition on time reads just what is asked, or what is pruned;
- ``export_failure``: a customer whose last export failed, ``sk`` the customer's id;
- ``alert_mark``: what operators said of an alert (acknowledged, silenced), ``sk`` its key.

Ids come from the counters ``notification`` and ``security_event``. ``save_round`` is
one transaction up to DynamoDB's 100 items; a larger round (an alert storm) is written
in batches, states first and the notifications last: one that fails part way has saved
states (saving them again is harmless) and may have queued some of its notifications,
which the caller then also sends directly.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from itertools import islice

from kenshin.adapters.dynamo_items import (
    fits_transaction,
    integer,
    item,
    key,
    key_of,
    optional_integer,
    optional_text,
    padded,
    text,
    write_all,
)
from kenshin.adapters.dynamo_tables import DynamoTables, Item, is_condition_failure
from kenshin.domain.alerts import (
    Alert,
    AlertMark,
    AlertState,
    Event,
    Notification,
    Queued,
    Severity,
)
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import ExportFailure

STATE = "alert"
QUEUE = "queue"
CHANNELS = "queue_channel"
NOTIFICATION = "notification"
EVENT = "security_event"
EXPORT_FAILURE = "export_failure"
MARK = "alert_mark"


class DynamoAlerts:
    """Alerts in the records table of ``tables``."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._table = tables.records

    def alert_states(self) -> dict[str, AlertState]:
        """The active alerts' stored states by key."""
        found = self._partition(STATE)
        return {f["sk"]["S"]: AlertState(alert_of(f), integer(f, "notified_at")) for f in found}

    def alert_marks(self) -> dict[str, AlertMark]:
        """What operators said of alerts (acknowledged, silenced), by key."""
        return {
            f["sk"]["S"]: AlertMark(
                f["sk"]["S"],
                optional_text(f, "acknowledged_by"),
                optional_integer(f, "acknowledged_at"),
                optional_integer(f, "silenced_until"),
                optional_text(f, "silenced_by"),
            )
            for f in self._partition(MARK)
        }

    def mark_alert(self, mark: AlertMark) -> None:
        """Keep ``mark`` as what operators said of its key, in place of any before."""
        found = item(
            MARK,
            mark.key,
            acknowledged_by=mark.acknowledged_by,
            acknowledged_at=mark.acknowledged_at,
            silenced_until=mark.silenced_until,
            silenced_by=mark.silenced_by,
        )
        self._tables.call("put_item", TableName=self._table, Item=found)

    def save_round(
        self,
        states: Sequence[AlertState],
        resolved: Sequence[str],
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """In one transaction (up to 100 items: see the module): save ``states``, forget
        the ``resolved`` keys, and queue each (channel, notification) of ``outgoing`` in
        order."""
        gone = set(resolved)
        saved = {s.alert.key: s for s in states if s.alert.key not in gone}
        puts = [
            item(STATE, k, notified_at=s.notified_at, **_alert_values(s.alert))
            for k, s in saved.items()
        ]
        deletes = [key(STATE, k) for k in sorted(gone)]
        queued = []
        if outgoing:
            last = self._tables.next_number(NOTIFICATION, len(outgoing))
            ids = range(last - len(outgoing) + 1, last + 1)
            queued = [item(CHANNELS, channel) for channel in sorted({c for c, _ in outgoing})]
            queued += map(_queue_item, ids, outgoing)
        if fits_transaction(len(puts) + len(deletes) + len(queued)):
            write_all(self._tables, [*puts, *queued], deletes)
            return
        self._tables.write_many(self._table, puts, deletes)
        self._tables.write_many(self._table, queued)

    def queue_depths(self) -> dict[str, int]:
        """How many notifications wait, by channel (those with any): counted by keys
        only, not reading the notifications."""
        depths = {}
        for channel in self._channels():
            count = sum(1 for _ in self._partition(f"{QUEUE}#{channel}", ProjectionExpression="sk"))
            if count:
                depths[channel] = count
        return depths

    def queued(self, channel: str | None = None, limit: int = 1000) -> list[Queued]:
        """At most ``limit`` queued notifications, oldest first, optionally of one channel."""
        if limit <= 0:
            return []
        channels = self._channels() if channel is None else [channel]
        queues = [
            islice(self._partition(f"{QUEUE}#{name}", Limit=min(limit, 1000)), limit)
            for name in channels
        ]
        merged = heapq.merge(*queues, key=lambda found: found["sk"]["S"])
        return [_queued(found) for found in islice(merged, limit)]

    def delivered(self, ids: Sequence[int]) -> None:
        """Remove these notifications from the queue: they were sent."""
        self._tables.write_many(self._table, deletes=[key_of(f) for f in self._find(ids)])

    def delivery_failed(self, ids: Sequence[int], error: str) -> None:
        """Count one more failed attempt for these notifications; they stay queued."""
        for found in self._find(ids):
            try:
                self._tables.call(
                    "update_item",
                    TableName=self._table,
                    Key=key_of(found),
                    UpdateExpression="ADD attempts :one SET last_error = :error",
                    ConditionExpression="attribute_exists(pk)",  # not sent meanwhile
                    ExpressionAttributeValues={":one": {"N": "1"}, ":error": {"S": error}},
                )
            except Exception as exc:
                if not is_condition_failure(exc):
                    raise

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Keep security events (in batches, not one transaction: if storing fails part
        way, those stored already are kept twice when the caller stores them all again)."""
        if not events:
            return
        last = self._tables.next_number(EVENT, len(events))
        puts = [
            item(
                EVENT,
                f"{padded(e.at)}#{padded(number)}",
                kind=e.kind,
                at=e.at,
                address=e.address,
                who=e.who,
                detail=e.detail,
            )
            for number, e in enumerate(events, last - len(events) + 1)
        ]
        self._tables.write_many(self._table, puts)

    def security_events(
        self, since: int, limit: int = 10_000, *, newest: bool = False
    ) -> list[SecurityEvent]:
        """At most ``limit`` security events at or after ``since``, oldest first; with
        ``newest``, the newest ``limit`` of them, newest first."""
        if limit <= 0:
            return []
        found = self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={":pk": {"S": EVENT}, ":since": {"S": padded(since)}},
            ScanIndexForward=not newest,
            Limit=min(limit, 1000),
        )
        return [_security_event(f) for f in islice(found, limit)]

    def prune_security_events(self, before: int) -> int:
        """Remove the security events before ``before``; how many."""
        found = self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND sk < :before",
            ExpressionAttributeValues={":pk": {"S": EVENT}, ":before": {"S": padded(before)}},
            ProjectionExpression="pk, sk",
        )
        old = [key_of(f) for f in found]
        self._tables.write_many(self._table, deletes=old)
        return len(old)

    def export_failed(self, failure: ExportFailure) -> None:
        """Record that the customer's export failed; ``since`` stays that of the first
        failure in a row."""
        self._tables.call(
            "update_item",
            TableName=self._table,
            Key=key(EXPORT_FAILURE, failure.customer),
            UpdateExpression=(
                "SET #day = :day, reason = :reason, since = if_not_exists(since, :since)"
            ),
            ExpressionAttributeNames={"#day": "day"},
            ExpressionAttributeValues={
                ":day": {"S": failure.day},
                ":reason": {"S": failure.reason},
                ":since": {"N": str(failure.since)},
            },
        )

    def export_succeeded(self, customer: str) -> None:
        """Record that the customer's export succeeded: no failure of it stands."""
        self._tables.call("delete_item", TableName=self._table, Key=key(EXPORT_FAILURE, customer))

    def export_failures(self) -> list[ExportFailure]:
        """The customers whose last export failed, by customer."""
        return [
            ExportFailure(f["sk"]["S"], text(f, "day"), text(f, "reason"), integer(f, "since"))
            for f in self._partition(EXPORT_FAILURE)
        ]

    def _channels(self) -> list[str]:
        """The channels anything was ever queued for, by name."""
        return [found["sk"]["S"] for found in self._partition(CHANNELS)]

    def _find(self, ids: Sequence[int]) -> list[Item]:
        """The queued notifications of ``ids`` (those still queued), in any channel."""
        wanted = sorted({padded(i) for i in ids if i >= 0})
        keys = [key(f"{QUEUE}#{c}", sk) for c in self._channels() for sk in wanted]
        return self._tables.get_many(self._table, keys) if keys else []

    def _partition(self, pk: str, **request: object) -> Iterator[Item]:
        """The items of the partition ``pk``, in ``sk`` order."""
        return self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            **request,
        )


def _alert_values(alert: Alert) -> dict[str, str | int | None]:
    return {
        "key": alert.key,
        "severity": str(alert.severity),
        "title": alert.title,
        "text": alert.text,
        "customer": alert.customer,
        "since": alert.since,
        "zone": alert.zone,
    }


def alert_of(found: Item) -> Alert:
    return Alert(
        text(found, "key"),
        Severity(text(found, "severity")),
        text(found, "title"),
        text(found, "text"),
        optional_text(found, "customer"),
        integer(found, "since"),
        text(found, "zone"),
    )


def _queue_item(number: int, outgoing: tuple[str, Notification]) -> Item:
    channel, note = outgoing
    return item(
        f"{QUEUE}#{channel}",
        padded(number),
        channel=channel,
        event=str(note.event),
        at=note.at,
        attempts=0,
        last_error="",
        **_alert_values(note.alert),
    )


def _queued(found: Item) -> Queued:
    note = Notification(Event(text(found, "event")), alert_of(found), integer(found, "at"))
    return Queued(
        int(found["sk"]["S"]),
        text(found, "channel"),
        note,
        integer(found, "attempts"),
        text(found, "last_error"),
    )


def _security_event(found: Item) -> SecurityEvent:
    return SecurityEvent(
        text(found, "kind"),
        integer(found, "at"),
        text(found, "address"),
        optional_text(found, "who"),
        text(found, "detail"),
    )
