"""The periodic work of a running server: export what is due, pack closed days, prune.

``export_due`` is one run of it, a plain function over the ports; ``every`` calls
a job at a fixed interval until told to stop, in a worker thread so that the
event loop keeps serving devices while files are written. A failing customer
is logged, recorded in the store with the day that failed (``note_export``: an export
by hand records its outcome too, so its success clears the failure if it covered that
day, or was a run of all due days) and the others go on; a run that
failed comes again after a short wait, not a whole interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

from kenshin.domain.model import Customer
from kenshin.domain.observations import ExportFailure
from kenshin.domain.slots import day_slots, local_day, zone
from kenshin.errors import ExportError, KenshinError
from kenshin.ports import Outbox, Store
from kenshin.services.export import (
    FINAL,
    ExportOutcome,
    ExportSettings,
    days_to_export,
    export_day,
    oldest_kept_day,
    pack_closed_days,
    remove_expired,
)

log = logging.getLogger(__name__)


@dataclass
class ExportRun:
    """What one run of ``export_due`` did."""

    packed_days: int = 0
    outcomes: list[ExportOutcome] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # customer -> what went wrong
    failed_days: dict[str, date] = field(default_factory=dict)  # customer -> the day that failed


def export_due(
    store: Store,
    outbox: Outbox,
    settings: ExportSettings,
    *,
    now: int,
    late: LateReadings | None = None,
) -> ExportRun:
    """Pack closed days, export every customer's due days, remove expired files.

    Due are today, the days not final yet, and the final days within the retention
    that got readings after their newest revision was made (restated); ``late``
    remembers across runs the days found unchanged all the same.
    """
    late = late or LateReadings()
    run = ExportRun(packed_days=pack_closed_days(store, now))
    for customer in store.registry.list_customers():
        try:
            _export_customer(store, outbox, settings, customer, run, now, late)
            run.removed += remove_expired(
                outbox, customer, now=now, retention_days=settings.retention_days
            )
        except KenshinError as exc:  # one customer's problem does not stop the others
            log.error("export of customer %s failed: %s", customer.id, exc)  # noqa: TRY400 - the message says it all
            run.failures[customer.id] = str(exc)
            note_export(store, customer, now, str(exc), days=_failed(run, customer))
        else:
            note_export(store, customer, now)
    written = sum(o.changed for o in run.outcomes)
    log.info(
        "export run: %d days packed, %d files written, %d unchanged, %d removed, %d failed",
        run.packed_days,
        written,
        len(run.outcomes) - written,
        len(run.removed),
        len(run.failures),
    )
    return run


def _export_customer(
    store: Store,
    outbox: Outbox,
    settings: ExportSettings,
    customer: Customer,
    run: ExportRun,
    now: int,
    late: LateReadings,
) -> None:
    """Export the customer's due days into ``run``."""
    mark = store.watermark().batch  # what the exports below see at least
    due = set(days_to_export(store, customer, now=now))
    due.update(late.days(store, customer, now=now, retention_days=settings.retention_days))
    for day in sorted(due):
        try:
            outcome = export_day(store, outbox, customer, day, now=now, settings=settings)
        except KenshinError:
            run.failed_days[customer.id] = day
            raise
        run.outcomes.append(outcome)
        late.exported(customer.id, day, mark)


def _failed(run: ExportRun, customer: Customer) -> list[date] | None:
    day = run.failed_days.get(customer.id)
    return None if day is None else [day]


@dataclass
class LateReadings:
    """Which earlier days the server exports again: those not final yet, and the final
    ones with readings stored after their newest revision was made (restated then).

    The store tells the newest batch that changed readings of each UTC day, of every
    customer; a day exported since that batch without a new revision (the readings
    were another customer's, or of the other part of the UTC day) is remembered here,
    so that it is not made again each run.
    """

    checked: dict[tuple[str, date], int] = field(default_factory=dict)  # -> batch seen

    def days(
        self, store: Store, customer: Customer, *, now: int, retention_days: int
    ) -> list[date]:
        """The customer's days before today within the retention that are due."""
        try:
            tz = zone(customer.timezone)
        except ValueError as exc:
            raise ExportError(f"customer {customer.id!r}: {exc}") from exc
        oldest = oldest_kept_day(customer, now=now, retention_days=retention_days)
        today = local_day(now, tz)
        for key in [k for k in self.checked if k[0] == customer.id and k[1] < oldest]:
            del self.checked[key]
        due = []
        for back in range((today - oldest).days, 0, -1):
            day = today - timedelta(days=back)
            latest = store.revisions.latest_revision(customer.id, day.isoformat())
            if latest is None:  # never exported: the look back of days_to_export decides
                continue
            seen = max(latest.as_of_batch, self.checked.get((customer.id, day), 0))
            slots = day_slots(day, tz)
            if latest.status != FINAL or store.readings.newest_batch(slots.start, slots.end) > seen:
                due.append(day)
        return due

    def exported(self, customer_id: str, day: date, batch: int) -> None:
        """Note that the customer's ``day`` was exported with every batch up to ``batch``."""
        self.checked[(customer_id, day)] = batch


def note_export(
    store: Store,
    customer: Customer,
    now: int,
    error: str | None = None,
    *,
    days: Collection[date] | None = None,
) -> None:
    """Record in the store how the customer's export at ``now`` went (``error``: why it
    failed), whoever ran it: the export alerts and readiness of the server read it.

    ``days`` are the days exported (None: all due days). A failure records the first of
    them (the day that failed; the customer's local today if unknown); a success clears
    a standing failure only if it covered the failed day: an export by hand of another
    day leaves it standing.
    """
    if error is None:
        standing = [f for f in store.alerts.export_failures() if f.customer == customer.id]
        if days is None or any(f.day in {d.isoformat() for d in days} for f in standing):
            store.alerts.export_succeeded(customer.id)
        return
    if days:
        day = min(days)
    else:
        try:
            day = local_day(now, zone(customer.timezone))
        except ValueError:  # the customer's zone may be what failed
            day = local_day(now, zone("UTC"))
    store.alerts.export_failed(ExportFailure(customer.id, day.isoformat(), error, now))


async def every(
    interval_s: float,
    job: Callable[[int], object],
    stop: asyncio.Event,
    *,
    clock: Callable[[], float] = time.time,
    retry_s: float | None = None,
) -> None:
    """Run ``job(now)`` in a thread now and then every ``interval_s`` until ``stop`` is set;
    with ``retry_s``, a run that failed (raised, or an ExportRun with failures) comes
    again after that instead, if sooner."""
    while not stop.is_set():
        wait = interval_s
        try:
            done = await asyncio.to_thread(job, int(clock()))
            if retry_s is not None and isinstance(done, ExportRun) and done.failures:
                wait = min(interval_s, retry_s)
                log.warning("the export run had failures: tried again in %.0f s", wait)
        except Exception:  # a failed run must not end the schedule
            wait = interval_s if retry_s is None else min(interval_s, retry_s)
            log.exception("a scheduled run failed; the next one comes in %.0f s", wait)
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            continue
