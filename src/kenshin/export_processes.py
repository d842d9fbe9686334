"""Exports on every core: a run's export jobs (a customer's days each) made in worker
processes. Part of bootstrap: the workers open the store and the outbox of the settings.

A customer's day is made start to end in one worker, from the store's reads to the
published file; the run that sent the jobs keeps every record (``export_due``). The
workers are started for a run and end with it, so that a server holds no memory for
them between runs. They are spawned, not forked (the server that starts them runs
threads), run at a lower priority than the process that started them, so that a
server's endpoint answers its units first, and take one customer at a time, so that
100 customers spread evenly over the cores. A worker that dies breaks its pool: the
customers it left are made once more in new workers, and fail if they are left again
(the next run makes them). A job that raises fails its customer's export alone.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from kenshin.config import Settings
from kenshin.entrypoints import logs
from kenshin.ports import Outbox, Store
from kenshin.services.export import ExportSettings
from kenshin.services.export_jobs import ExportJob, JobDone, OnOutcome, run_job
from kenshin.store_setup import open_outbox, open_store
from kenshin.worker_processes import cores, quiet_worker, stop_pool

# Below this many meter-days a run is made in its own process: starting a worker (an
# interpreter, numpy, the store) costs about what 20,000 meter-days of export do.
MIN_METER_DAYS = 100_000

log = logging.getLogger(__name__)


def export_elsewhere(
    settings: Settings, data_dir: Path, export: ExportSettings
) -> ExportProcesses | None:
    """Worker processes for the exports, as many as ``export.processes`` says (0: one per
    core); None where the exports are made in the process that runs them (1, or the
    memory store, which no other process reaches)."""
    processes = settings.export.processes or cores()
    if processes < 2 or settings.store.kind == "memory":
        return None
    return ExportProcesses(settings, data_dir, export, processes)


class ExportProcesses:
    """Makes export jobs in up to ``processes`` worker processes (an ``Exporter``)."""

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        export: ExportSettings,
        processes: int,
        *,
        min_meter_days: int = MIN_METER_DAYS,
    ) -> None:
        self._setup = (settings.model_dump_json(), str(data_dir), export)
        self._processes = processes
        self._min_meter_days = min_meter_days

    def takes(self, jobs: Sequence[ExportJob], meters: int) -> bool:
        """Whether the jobs are worth workers: more than one customer has days to make,
        and the site's meters times the most days of a job reach ``min_meter_days``."""
        busy = [job for job in jobs if job.days]
        if self._processes < 2 or len(busy) < 2:
            return False
        return meters * max(len(job.days) for job in busy) >= self._min_meter_days

    def run(self, jobs: Sequence[ExportJob], now: int, on_outcome: OnOutcome) -> Iterator[JobDone]:
        """Make the jobs in the workers; each job's result as it ends. The jobs a dead
        worker left (a dead worker breaks its whole pool) are made once more in new
        workers; those it leaves again fail."""
        yield from (JobDone(job.customer.id, ()) for job in jobs if not job.days)
        left = [job for job in jobs if job.days]
        for last in (False, True):
            broken: list[ExportJob] = []
            for done in self._in_pool(left, now, None if last else broken):
                for outcome in done.outcomes:
                    on_outcome(outcome)
                yield done
            if not broken:
                return
            log.warning("an export process died: %d customers made again", len(broken))
            left = broken

    def _in_pool(
        self, jobs: list[ExportJob], now: int, broken: list[ExportJob] | None
    ) -> Iterator[JobDone]:
        """The jobs' results from one pool of workers; the jobs its breaking left go into
        ``broken`` if given, else fail."""
        workers = min(self._processes, len(jobs))
        log.info("exporting %d customers in %d processes", len(jobs), workers)
        pool = ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_start, initargs=self._setup
        )
        ended = False
        try:
            sent = {pool.submit(_run, job, now): job for job in jobs}
            for future in as_completed(sent):
                job = sent[future]
                try:
                    yield future.result()
                except BrokenProcessPool:
                    if broken is None:
                        yield _failed(job)
                    else:
                        broken.append(job)
                except Exception:  # a job that raised fails its customer only
                    yield _failed(job)
            ended = True
        finally:
            stop_pool(pool, ended=ended)


def _failed(job: ExportJob) -> JobDone:
    """A failure of the job's customer, logged with what its process raised."""
    log.exception("the export of %s failed in its process", job.customer.id)
    why = sys.exc_info()[1]
    return JobDone(job.customer.id, (), f"the export process failed: {why!r}", job.days[0])


# The worker's own store and outbox, opened once when it starts.
_worker: tuple[Store, Outbox, ExportSettings] | None = None


def _start(settings_json: str, data_dir: str, export: ExportSettings) -> None:
    """Open the store and the outbox of the settings in this worker."""
    global _worker
    quiet_worker()
    settings = Settings.model_validate_json(settings_json)
    logs.configure(logging.getLevelName(settings.logging.level))
    store = open_store(settings, Path(data_dir), create=False)
    _worker = (store, open_outbox(settings, Path(data_dir)), export)


def _run(job: ExportJob, now: int) -> JobDone:
    """Make one job in this worker."""
    if _worker is None:
        raise RuntimeError("the export worker did not open its store")
    store, outbox, export = _worker
    return run_job(store, outbox, export, job, now, lambda _: None)
