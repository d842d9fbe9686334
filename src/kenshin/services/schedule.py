"""The periodic work of a running server: export what is due, pack closed days, prune.

``export_due`` is one run of it, a plain function over the ports; ``every`` calls
a job at a fixed interval until told to stop, in a worker thread so that the
event loop keeps serving devices while files are written. A failing customer
is logged and the others go on; a failing run is logged and the next one comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kenshin.errors import KenshinError
from kenshin.ports import Outbox, Store
from kenshin.services.export import (
    ExportOutcome,
    ExportSettings,
    days_to_export,
    export_day,
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


def export_due(store: Store, outbox: Outbox, settings: ExportSettings, *, now: int) -> ExportRun:
    """Pack closed days, export every customer's due days, remove expired files."""
    run = ExportRun(packed_days=pack_closed_days(store, now))
    for customer in store.list_customers():
        try:
            for day in days_to_export(store, customer, now=now):
                run.outcomes.append(
                    export_day(store, outbox, customer, day, now=now, settings=settings)
                )
            run.removed += remove_expired(
                outbox, customer, now=now, retention_days=settings.retention_days
            )
        except KenshinError as exc:  # one customer's problem does not stop the others
            log.error("export of customer %s failed: %s", customer.id, exc)  # noqa: TRY400 - the message says it all
            run.failures[customer.id] = str(exc)
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


async def every(
    interval_s: float,
    job: Callable[[int], object],
    stop: asyncio.Event,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run ``job(now)`` in a thread now and then every ``interval_s`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(job, int(clock()))
        except Exception:  # a failed run must not end the schedule
            log.exception("a scheduled run failed; the next one comes in %.0f s", interval_s)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            continue
