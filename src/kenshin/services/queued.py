"""Units' messages taken from a queue: kenshin on AWS, where IoT Core's topic rule puts
every message units publish on an SQS queue (docs/aws.md), stored as the device
endpoint stores them.

Each message's body is a JSON object: ``topic`` (``dt/kenshin/{device}/{kind}``),
``device`` (the topic's third level: the thing name the unit connected as),
``payload`` (base64) and ``received`` (when IoT Core received it, epoch
milliseconds). Readings and ECHONET Lite frames of a batch go to ingest in one call;
status messages are kept as their units' last status; a body that is not such an
object is a dead letter with the reason. All of those are handled: a message fails
only when what it needs written could not be (the store down), and then it comes
again, which is safe: storage is idempotent.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kenshin.domain.cluster import unit_topic
from kenshin.domain.model import DeadLetter
from kenshin.errors import StoreError
from kenshin.ports import Alerts, DeadLetters, UnitClocks
from kenshin.services.alerting import SecurityEventBuffer
from kenshin.services.imports import Ingests
from kenshin.services.incoming import Incoming, IngestSummary

log = logging.getLogger(__name__)

STATUS = "status"  # the topic suffix of a unit's status messages


class QueuedPorts(Protocol):
    """What storing queued messages writes besides ingest's: statuses, dead letters and
    security events. A ``Store`` is one."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """Each unit's last-seen time and status messages."""

    @property
    def dead_letters(self) -> DeadLetters:
        """Messages that could not be used, with their reasons."""

    @property
    def alerts(self) -> Alerts:
        """Alert state and security events."""


@dataclass(frozen=True, slots=True)
class Queued:
    """A message as the queue gave it: its id, its body, and when the queue took it
    (epoch s: the receipt of a body that says nothing itself)."""

    id: str
    body: str
    sent_at: int


@dataclass(frozen=True, slots=True)
class Status:
    """A unit's status message."""

    device: str
    received_at: int
    payload: bytes


@dataclass
class QueuedOutcome:
    """What a batch of queued messages did: the ids of those that failed, ingest's
    counts, and the statuses and unreadable bodies kept."""

    failed: list[str] = field(default_factory=list)
    summary: IngestSummary = field(default_factory=IngestSummary)
    statuses: int = 0
    unreadable: int = 0


def read_body(message: Queued) -> Incoming | Status | DeadLetter:
    """What the message's body holds, or a dead letter saying why it cannot be used."""
    try:
        found = json.loads(message.body)
        return _read(found if isinstance(found, dict) else {})
    except (ValueError, TypeError) as exc:
        return DeadLetter(
            f"sqs:{message.id}",
            f"the queue's message is not one IoT Core's topic rule writes: {exc}",
            message.body.encode("utf-8", "replace"),
            message.sent_at,
        )


def _read(body: dict[str, Any]) -> Incoming | Status:
    """The message in ``body``; ValueError (or TypeError) saying what is wrong."""
    topic, device, payload, received = (
        body.get(key) for key in ("topic", "device", "payload", "received")
    )
    if not isinstance(topic, str) or not isinstance(device, str) or not isinstance(payload, str):
        raise TypeError("expected a JSON object with topic, device, payload and received")
    if not isinstance(received, int) or isinstance(received, bool) or received < 0:
        raise ValueError(f"received: expected epoch milliseconds, got {received!r}")
    where = unit_topic(topic)
    if where is None or where[0] != device:
        raise ValueError(f"topic {topic!r} is not device {device!r}'s dt/kenshin/{device}/...")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"payload: not base64 ({exc})") from exc
    received_at, kind = received // 1000, where[1]
    if kind == STATUS:
        return Status(device, received_at, data)
    return Incoming(f"iot:{device}", data, received_at, kind, device)


def store_queued(
    ingest: Ingests,
    store: QueuedPorts,
    messages: Sequence[Queued],
    security: SecurityEventBuffer | None = None,
) -> QueuedOutcome:
    """Store a batch of queued messages: readings and frames through ``ingest`` in one
    call (if it fails, every message of the batch fails), then the statuses, then the
    dead letters of unreadable bodies, each message failing only with its own write;
    then the security events ingest recorded in ``security``, if they can be."""
    done = QueuedOutcome()
    read = [(m.id, read_body(m)) for m in messages]
    items = [item for _, item in read if isinstance(item, Incoming)]
    if items:
        try:
            ingest.ingest(items, done.summary)
        except Exception:  # every failure must reach the queue: the messages come again
            log.exception("a batch of %d queued messages could not be stored", len(messages))
            done.failed = [m.id for m in messages]
            return done
    statuses = [(i, s) for i, s in read if isinstance(s, Status)]
    letters = [(i, d) for i, d in read if isinstance(d, DeadLetter)]
    done.failed += _written(statuses, lambda: _save_statuses(store, [s for _, s in statuses]))
    done.failed += _written(
        letters, lambda: store.dead_letters.add_dead_letters([d for _, d in letters])
    )
    done.statuses, done.unreadable = len(statuses), len(letters)
    for _, letter in letters:
        log.warning("dead letter from %s: %s", letter.source, letter.reason)
    if security is not None:
        try:
            security.flush(store.alerts)
        except StoreError as exc:  # held for the next batch
            log.error("security events cannot be stored now: %s", exc)  # noqa: TRY400
    return done


def _written(group: Sequence[tuple[str, object]], write: Callable[[], object]) -> list[str]:
    """The ids of ``group`` if ``write`` (what they need written) fails, else none."""
    if not group:
        return []
    try:
        write()
    except Exception:
        log.exception("%d queued messages could not be stored", len(group))
        return [message_id for message_id, _ in group]
    return []


def _save_statuses(store: QueuedPorts, statuses: Sequence[Status]) -> None:
    """Keep each unit's latest status of the batch."""
    latest: dict[str, tuple[int, bytes]] = {}
    for status in sorted(statuses, key=lambda s: s.received_at):
        latest[status.device] = (status.received_at, status.payload)
    store.unit_clocks.save_statuses(latest)
