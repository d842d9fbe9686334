"""A run's exports as jobs, one a customer: made in this process, or in others (``Exporter``).

A job is a customer and the days to make; what comes back is each day's outcome in
order, and the failure that stopped the customer's days, if one did. The run that
plans the jobs keeps its own records (failures noted, days seen, expired files
removed), wherever the jobs ran: only the making of files goes elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from kenshin.domain.model import Customer
from kenshin.errors import KenshinError
from kenshin.ports import Outbox
from kenshin.services.export import ExportOutcome, ExportPorts, ExportSettings, export_day

OnOutcome = Callable[[ExportOutcome], object]


@dataclass(frozen=True)
class ExportJob:
    """A customer's days to make, in order."""

    customer: Customer
    days: tuple[date, ...]


@dataclass(frozen=True)
class JobDone:
    """What a job made: the outcome of each day done, in order, and the failure (with
    the day that failed) that stopped it, if one did."""

    customer: str
    outcomes: tuple[ExportOutcome, ...]
    failure: str | None = None
    failed_day: date | None = None


class Exporter(Protocol):
    """Makes the files of export jobs somewhere else than the run's own thread."""

    def takes(self, jobs: Sequence[ExportJob], meters: int) -> bool:
        """Whether these jobs are worth sending out, on a site of ``meters`` meters."""

    def run(self, jobs: Sequence[ExportJob], now: int, on_outcome: OnOutcome) -> Iterator[JobDone]:
        """Make the jobs' files at ``now``; each job's result as it ends, in any order,
        after ``on_outcome`` has seen each of its days."""


def run_job(
    store: ExportPorts,
    outbox: Outbox,
    settings: ExportSettings,
    job: ExportJob,
    now: int,
    on_outcome: OnOutcome,
) -> JobDone:
    """Make the job's days in order, each seen by ``on_outcome`` as it is done; the first
    that fails (KenshinError) stops the customer's days."""
    outcomes: list[ExportOutcome] = []
    for day in job.days:
        try:
            outcome = export_day(store, outbox, job.customer, day, now=now, settings=settings)
        except KenshinError as exc:
            return JobDone(job.customer.id, tuple(outcomes), str(exc), day)
        outcomes.append(outcome)
        on_outcome(outcome)
    return JobDone(job.customer.id, tuple(outcomes))


@dataclass(frozen=True)
class InThisProcess:
    """The jobs made one after another in the calling thread."""

    store: ExportPorts
    outbox: Outbox
    settings: ExportSettings

    def run(self, jobs: Sequence[ExportJob], now: int, on_outcome: OnOutcome) -> Iterator[JobDone]:
        """Each job in turn."""
        for job in jobs:
            yield run_job(self.store, self.outbox, self.settings, job, now, on_outcome)
