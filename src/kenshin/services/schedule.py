"""Exporting customers' days, and the periodic work of a running server: export what is
due, pack closed days, prune files and, where the store can, readings.

``export_due`` is one run of it, a plain function over the ports, and the one export use
case: the server's schedule runs it with its defaults, ``kenshin export`` and the demo
with the customers and days asked for. ``every`` calls a job at a fixed interval until
told to stop, in a worker thread so that the event loop keeps serving devices while
files are written. A failing customer is recorded in the store with the day that failed
(``note_export``: an export by hand records its outcome too, so its success clears the
failure if it covered that day, or was a run of all due days) and the others go on; a
run that failed comes again after a short wait, not a whole interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from kenshin.domain.model import Customer
from kenshin.domain.observations import ExportFailure
from kenshin.domain.slots import day_slots, local_day, zone
from kenshin.errors import ExportError, KenshinError, NotFoundError
from kenshin.ports import Alerts, Expiring, Outbox
from kenshin.services.export import (
    FINAL,
    ExportOutcome,
    ExportPorts,
    ExportSettings,
    days_to_export,
    oldest_kept_day,
    remove_expired,
)
from kenshin.services.export_jobs import Exporter, ExportJob, InThisProcess, JobDone, OnOutcome
from kenshin.services.store_upkeep import pack_closed_days, settle_old_days


class SchedulePorts(ExportPorts, Protocol):
    """What an export run needs: an export's ports, and the alert state where each
    customer's last outcome is kept. A ``Store`` is one."""

    @property
    def alerts(self) -> Alerts:
        """Alert state, with each customer's last export outcome."""


log = logging.getLogger(__name__)
_DAY_SECONDS = 86_400


@dataclass(frozen=True)
class DayRange:
    """The local days from ``first`` to ``last``; those older than the retention are
    skipped (a single day asked for is refused instead)."""

    first: date
    last: date

    def days(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class ExportRequest:
    """What an export run makes. The defaults are the server's scheduled run: every
    customer's due days, the final days restated since included, expired files removed.

    ``customers``: the ids to export (empty: every customer). ``days``: one day, a range,
    or None for the due days (today and the recent days not final yet). ``restated``: the
    due days include the final days that got readings after their newest revision.
    ``remove_expired``: files older than the retention are removed afterwards, and
    readings older than theirs (``ExportSettings.readings_retention_days``) where the
    store can drop them (``Expiring``).
    """

    customers: tuple[str, ...] = ()
    days: date | DayRange | None = None
    restated: bool = True
    remove_expired: bool = True


SCHEDULED = ExportRequest()


@dataclass
class ExportRun:
    """What one run of ``export_due`` did."""

    packed_days: int = 0
    settled_days: int = 0  # old days kept in fewer bytes (Settling)
    expired_readings: int = 0  # readings dropped for their retention
    outcomes: list[ExportOutcome] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # customer -> what went wrong
    failed_days: dict[str, date] = field(default_factory=dict)  # customer -> the day that failed
    skipped_before: dict[str, date] = field(default_factory=dict)  # customer -> oldest kept


def export_due(  # noqa: PLR0913 - the last four are keywords
    store: SchedulePorts,
    outbox: Outbox,
    settings: ExportSettings,
    *,
    now: int,
    request: ExportRequest = SCHEDULED,
    late: LateReadings | None = None,
    on_outcome: OnOutcome = lambda _: None,
    elsewhere: Exporter | None = None,
) -> ExportRun:
    """Pack closed days, export the customers' days ``request`` asks for (by default
    every customer's due days), remove expired files and readings: the one export use
    case, whoever runs it (the server's schedule, ``kenshin export``, the demo).

    Due are today, the days not final yet and, with ``request.restated``, the final days
    within the retention that got readings after their newest revision was made;
    ``late`` remembers across runs the days found unchanged all the same. A customer
    that fails is recorded (``note_export``) and the others go on; ``on_outcome`` sees
    each day exported as it is done. The files are made by ``elsewhere`` (other
    processes) if it takes the run's jobs, else here. NotFoundError, before anything is
    done, for a customer asked for that does not exist.
    """
    customers = {c.id: c for c in _customers(store, request.customers)}
    late = late or LateReadings()
    done = ExportRun(packed_days=pack_closed_days(store, now))
    mark = store.watermark().batch  # what the exports below see at least
    run = _Run(store, outbox, settings, now, request, late, done, mark)
    jobs = []
    for customer in customers.values():
        try:
            jobs.append(ExportJob(customer, tuple(run.days(customer))))
        except KenshinError as exc:
            _record_failure(store, done, customer, now, str(exc))
    exporter: Exporter | InThisProcess = InThisProcess(store, outbox, settings)
    if elsewhere is not None and elsewhere.takes(jobs, store.registry.last_meter()):
        exporter = elsewhere
    for job in exporter.run(jobs, now, on_outcome):
        run.record(customers[job.customer], job)
    if request.remove_expired:
        done.expired_readings = _expire_readings(store, now, settings.readings_retention_days)
    if not request.customers:  # a run of the whole fleet: settling is the fleet's
        done.settled_days = _settle(store, now)
    _log_run(done)
    return done


def _record_failure(
    store: SchedulePorts, done: ExportRun, customer: Customer, now: int, why: str
) -> None:
    """Note in the run and in the store that the customer's export failed."""
    done.failures[customer.id] = why
    note_export(store, customer, now, why, days=_failed(done, customer))


def _log_run(done: ExportRun) -> None:
    written = sum(o.changed for o in done.outcomes)
    log.info(
        "export run: %d days packed, %d files written, %d unchanged, %d removed, %d failed,"
        " %d readings expired, %d days settled",
        done.packed_days,
        written,
        len(done.outcomes) - written,
        len(done.removed),
        len(done.failures),
        done.expired_readings,
        done.settled_days,
    )


def _settle(store: SchedulePorts, now: int) -> int:
    """Settle the old days (``settle_old_days``); how many. A failure is logged, and the
    next run tries again: the files are made all the same."""
    try:
        return settle_old_days(store, now)
    except KenshinError:
        log.exception("settling old days failed; the next export run tries again")
        return 0


def _expire_readings(store: SchedulePorts, now: int, retention_days: int) -> int:
    """Drop the readings older than ``retention_days`` before ``now`` where the store can
    (``Expiring``; 0 days: kept forever); how many went. A failure is logged, and the
    next run tries again: the files are made all the same."""
    readings = store.readings
    if retention_days <= 0 or not isinstance(readings, Expiring):
        return 0
    try:
        return readings.expire(now - retention_days * _DAY_SECONDS)
    except KenshinError:
        log.exception("readings older than %d days could not be dropped", retention_days)
        return 0


def _customers(store: SchedulePorts, ids: tuple[str, ...]) -> list[Customer]:
    """The customers of ``ids`` (every customer if none); NotFoundError for one unknown."""
    if not ids:
        return store.registry.list_customers()
    found = []
    for customer_id in ids:
        customer = store.registry.get_customer(customer_id)
        if customer is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        found.append(customer)
    return found


@dataclass
class _Run:
    """One run of ``export_due`` under way: which days of each customer it makes, and
    what it did (into ``done``). ``mark``: the newest batch its exports see at least."""

    store: SchedulePorts
    outbox: Outbox
    settings: ExportSettings
    now: int
    request: ExportRequest
    late: LateReadings
    done: ExportRun
    mark: int

    def record(self, customer: Customer, job: JobDone) -> None:
        """Keep what the customer's job did; remove its expired files if it succeeded."""
        done, now = self.done, self.now
        done.outcomes += job.outcomes
        for outcome in job.outcomes:
            self.late.exported(customer.id, outcome.day, self.mark)
        if job.failure is not None:
            if job.failed_day is not None:
                done.failed_days[customer.id] = job.failed_day
            _record_failure(self.store, done, customer, now, job.failure)
            return
        try:
            if self.request.remove_expired:
                retention = self.settings.retention_days
                done.removed += remove_expired(
                    self.outbox, customer, now=now, retention_days=retention
                )
        except KenshinError as exc:  # one customer's problem does not stop the others
            _record_failure(self.store, done, customer, now, str(exc))
        else:  # a run of the due days clears a failure; one of days asked, if it covered it
            by_hand = None if self.request.days is None else _exported(done, customer)
            note_export(self.store, customer, now, days=by_hand)

    def days(self, customer: Customer) -> list[date]:
        """The customer's days the request asks for, in order."""
        asked, now, retention = self.request.days, self.now, self.settings.retention_days
        if isinstance(asked, date):
            return [asked]
        if isinstance(asked, DayRange):
            oldest = oldest_kept_day(customer, now=now, retention_days=retention)
            if asked.first < oldest:
                self.done.skipped_before[customer.id] = oldest
            return [d for d in asked.days() if d >= oldest]
        due = set(days_to_export(self.store, customer, now=now))
        if self.request.restated:
            due.update(self.late.days(self.store, customer, now=now, retention_days=retention))
        return sorted(due)


def _exported(run: ExportRun, customer: Customer) -> list[date]:
    return [o.day for o in run.outcomes if o.customer == customer.id]


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
        self, store: SchedulePorts, customer: Customer, *, now: int, retention_days: int
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
    store: SchedulePorts,
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
