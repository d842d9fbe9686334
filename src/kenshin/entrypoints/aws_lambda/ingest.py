"""The ingest function: a batch of the SQS queue's messages (each as IoT Core's topic
rule wrote it, see ``services.queued``) stored as the device endpoint stores them, the
readings of the batch in one call of ingest. Unreadable messages become dead letters:
they are handled, not failures. The messages that could not be stored are reported
(``batchItemFailures``): only those come back from the queue. The metric ``DeadLetters``
counts the messages set aside."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kenshin.bootstrap import App
from kenshin.entrypoints.aws_lambda.runtime import cold_start, emit_metrics, now
from kenshin.services.alerting import SecurityEventBuffer
from kenshin.services.ingest import Ingest
from kenshin.services.queued import Queued, store_queued
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)


def handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    """Store the event's records; the ids of those that failed, as Lambda's SQS event
    source takes them."""
    ingest, security = cold_start.kept("ingest", _ingest)
    messages = [_queued(record) for record in event.get("Records", ())]
    done = store_queued(ingest, cold_start.app.store, messages, security)
    summary = done.summary
    log.info(
        "%d messages: %d readings stored, %d duplicates, %d dead letters, %d statuses,"
        " %d unreadable, %d failed",
        len(messages),
        summary.stored,
        summary.duplicates,
        summary.dead_letters,
        done.statuses,
        done.unreadable,
        len(done.failed),
    )
    emit_metrics({"DeadLetters": summary.dead_letters + done.unreadable})
    return {"batchItemFailures": [{"itemIdentifier": failed} for failed in done.failed]}


def _ingest(app: App) -> tuple[Ingest, SecurityEventBuffer]:
    """Ingest as the settings make it, its security events held for the store."""
    security = SecurityEventBuffer()
    return app.ingest(SecurityLog(security)), security


def _queued(record: Mapping[str, Any]) -> Queued:
    """A record of the event as a queued message; sent when the queue says (epoch ms)."""
    sent = str((record.get("attributes") or {}).get("SentTimestamp", ""))
    sent_at = int(sent) // 1000 if sent.isdigit() else now()
    return Queued(str(record["messageId"]), str(record.get("body", "")), sent_at)
