"""The alerts that ended, in DynamoDB: the DynamoStore's ``alert_history``, in the
records table under the partition key ``alert_history``, ``sk`` the time each ended and
an id (padded: ``at#id``), so that the newest are one Query read backwards. Ids come
from the counter ``alert_history``."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from kenshin.adapters.dynamo_alerts import alert_of
from kenshin.adapters.dynamo_items import integer, item, key_of, padded
from kenshin.adapters.dynamo_tables import DynamoTables
from kenshin.domain.alerts import ResolvedAlert

HISTORY = "alert_history"


class DynamoAlertHistory:
    """The alerts that ended, in the records table of ``tables``."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._table = tables.records

    def add_resolved(self, ended: Sequence[ResolvedAlert]) -> None:
        """Keep alerts that ended."""
        if not ended:
            return
        last = self._tables.next_number(HISTORY, len(ended))
        puts = [
            item(
                HISTORY,
                f"{padded(e.resolved_at)}#{padded(number)}",
                resolved_at=e.resolved_at,
                key=e.alert.key,
                severity=e.alert.severity.value,
                title=e.alert.title,
                text=e.alert.text,
                customer=e.alert.customer,
                since=e.alert.since,
                zone=e.alert.zone,
            )
            for number, e in enumerate(ended, last - len(ended) + 1)
        ]
        self._tables.write_many(self._table, puts)

    def resolved(self, since: int, limit: int = 500) -> list[ResolvedAlert]:
        """At most ``limit`` alerts that ended at or after ``since``, newest first."""
        if limit <= 0:
            return []
        found = self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={":pk": {"S": HISTORY}, ":since": {"S": padded(since)}},
            ScanIndexForward=False,
            Limit=min(limit, 1000),
        )
        return [ResolvedAlert(alert_of(f), integer(f, "resolved_at")) for f in islice(found, limit)]

    def prune_resolved(self, before: int) -> int:
        """Forget the alerts that ended before ``before``; how many."""
        found = self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk AND sk < :before",
            ExpressionAttributeValues={":pk": {"S": HISTORY}, ":before": {"S": padded(before)}},
            ProjectionExpression="pk, sk",
        )
        old = [key_of(f) for f in found]
        self._tables.write_many(self._table, deletes=old)
        return len(old)
