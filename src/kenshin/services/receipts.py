"""Download receipts: what customers collected, and the final files they have not.

The file servers record a receipt for every completed download. The schedule (and
later the alerts) asks ``uncollected_files``: a customer's final daily file that was
not downloaded, at its revision or a later one, by ``collect_by_hours`` after the end of
its local day, or, for a revision made after that deadline (a day restated by late
readings), ``collect_by_hours`` after it was made. A file downloaded after
that deadline was collected late, not left uncollected: ``missed_deadlines`` says when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from kenshin.domain.accounts import Receipt
from kenshin.domain.revisions import FINAL
from kenshin.domain.slots import day_start, iso_utc, local_day, zone
from kenshin.errors import StoreError
from kenshin.ports import Deliveries, Registry, Revisions

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True, slots=True)
class Uncollected:
    """A final daily file its customer had not collected by ``due_at`` (UTC epoch s), and
    when it collected it after all, if it did (``collected_at``)."""

    customer: str
    day: str
    file_name: str
    revision: int
    due_at: int
    collected_at: int | None = None


def record_download(deliveries: Deliveries, receipt: Receipt) -> None:
    """Record a completed download. A store that fails loses no download from sight: the
    receipt is logged in full as an error, and the customer's session goes on."""
    try:
        deliveries.add_receipt(receipt)
    except StoreError as exc:
        log.error(  # noqa: TRY400 - the store's message says what failed
            "receipt not recorded (%s): %s downloaded %s revision %s, %d bytes, %s from %s at %s",
            exc,
            receipt.customer,
            receipt.file_name,
            receipt.revision,
            receipt.bytes,
            receipt.protocol,
            receipt.address,
            iso_utc(receipt.at),
        )
        return
    log.info(
        "%s downloaded %s (%d bytes) over %s",
        receipt.customer,
        receipt.file_name,
        receipt.bytes,
        receipt.protocol,
    )


class ReceiptPorts(Protocol):
    """What the collection of files is checked against: customers, their final
    revisions and their receipts. A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def revisions(self) -> Revisions:
        """The published revisions of customers' day files."""

    @property
    def deliveries(self) -> Deliveries:
        """Customers' accounts and download receipts."""


def uncollected_files(
    store: ReceiptPorts, now: int, collect_by_hours: int, lookback_days: int = 3
) -> list[Uncollected]:
    """Final files of the last ``lookback_days`` local days of each customer that were due
    by ``now`` and not collected at their newest revision (or a later one) by ``now``."""
    found = missed_deadlines(store, now, collect_by_hours, lookback_days)
    return [u for u in found if u.collected_at is None]


def missed_deadlines(
    store: ReceiptPorts, now: int, collect_by_hours: int, lookback_days: int = 3
) -> list[Uncollected]:
    """Final files of the last ``lookback_days`` local days of each customer that were due
    by ``now`` and not collected at their newest revision (or a later one) in time, each
    with when it was collected late (by ``now``), if it was. A customer without
    credentials cannot collect, so nothing of it is expected."""
    found = []
    for customer in store.registry.list_customers():
        if store.deliveries.get_account(customer.id) is None:
            continue
        tz = zone(customer.timezone)
        today = local_day(now, tz)
        for back in range(lookback_days, 0, -1):
            day = today - timedelta(days=back)
            deadline = day_start(day + timedelta(days=1), tz) + collect_by_hours * SECONDS_PER_HOUR
            latest = store.revisions.latest_revision(customer.id, day.isoformat())
            if latest is None or latest.status != FINAL:
                continue
            due_at = _due(deadline, latest.created_at, collect_by_hours)
            if due_at > now:
                continue
            receipt = store.deliveries.first_collected(
                customer.id, latest.file_name, latest.revision
            )
            if receipt is None or receipt.at > due_at:
                late = None if receipt is None or receipt.at > now else receipt.at
                found.append(
                    Uncollected(
                        customer.id, latest.day, latest.file_name, latest.revision, due_at, late
                    )
                )
    return found


class CollectionWatch:
    """Flags each final file not collected in time once: a warning when it becomes due,
    and one when it is collected late (or was, before the server started)."""

    def __init__(self, collect_by_hours: int) -> None:
        self.collect_by_hours = collect_by_hours
        self._flagged: set[Uncollected] = set()

    def check(self, store: ReceiptPorts, now: int) -> list[Uncollected]:
        """The files newly found uncollected at ``now``, each logged as a warning."""
        missed = missed_deadlines(store, now, self.collect_by_hours)
        found = {u for u in missed if u.collected_at is None}
        for u in missed:
            if u.collected_at is not None and u not in self._flagged:
                log.warning(
                    "customer %s collected %s (revision %d) late: at %s, due %s",
                    u.customer,
                    u.file_name,
                    u.revision,
                    iso_utc(u.collected_at),
                    iso_utc(u.due_at),
                )
        new = [u for u in missed if u in found and u not in self._flagged]
        self._flagged = set(missed)
        for u in new:
            log.warning(
                "customer %s has not collected %s (revision %d, final) due %s",
                u.customer,
                u.file_name,
                u.revision,
                iso_utc(u.due_at),
            )
        return new


def collection_status(
    store: ReceiptPorts, customer_id: str, file_name: str, revision: int
) -> int | None:
    """When the customer first collected the file at ``revision`` or later, or None."""
    receipt: Receipt | None = store.deliveries.first_collected(customer_id, file_name, revision)
    return None if receipt is None else receipt.at


def _due(deadline: int, created_at: int, collect_by_hours: int) -> int:
    """When a final revision must have been collected: by its day's deadline, or, made
    after it, as long after it was made as a day's file gets."""
    return deadline if created_at <= deadline else created_at + collect_by_hours * SECONDS_PER_HOUR
