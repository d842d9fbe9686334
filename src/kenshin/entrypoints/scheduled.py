"""What ``kenshin serve`` and the leading ``kenshin worker`` both run: the commit of
received messages in batches, and the scheduled export run (export what is due, check
collection, ask units for gaps)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from kenshin.bootstrap import App
from kenshin.entrypoints.watching import Watching
from kenshin.errors import StoreError
from kenshin.ports.store import Store
from kenshin.services.batching import CommitQueue
from kenshin.services.metrics import ServerMetrics
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

EXPORT_RETRY_S = 120  # a run with failures comes again this soon, not a whole interval later


def commit_queue(
    app: App, security: SecurityLog, metrics: ServerMetrics, *, in_loop: bool = False
) -> CommitQueue:
    """Received messages committed in batches, as the settings say (``in_loop``: in the
    event loop's thread, where endpoint processes serve the connections, when a SQLite
    store can be written at once)."""
    return CommitQueue(
        app.ingest(security),
        max_messages=app.settings.ingest.batch_messages,
        window_s=app.settings.mqtt.batch_window_ms / 1000,
        on_commit=metrics.committed,
        on_latency=metrics.commit_took,
        in_loop=_writable(app) if in_loop else None,
    )


def _writable(app: App) -> Callable[[], bool] | None:
    """When a batch may be committed in the loop: for SQLite, when no other writer holds
    the database (a cheap local check). A store on a server never: its commit waits on
    the network (a failover, a row lock), and the writer thread waits for it without
    holding the interpreter."""
    if app.settings.store.url:
        return None
    return partial(writable_now, app.store)


def writable_now(store: Store) -> bool:
    """Whether a write to ``store`` can begin without waiting for another writer."""
    try:
        store.check_writable(0)
    except StoreError:
        return False
    return True


@dataclass
class LastRun:
    """Why the last export run failed as a whole, or None."""

    error: str | None = None


def export_job(
    app: App, metrics: ServerMetrics, watching: Watching, last_run: LastRun
) -> Callable[[int], object]:
    """The scheduled job: export what is due, check collection, ask units for gaps."""
    rounds = app.export_round()

    def export(now: int) -> object:
        try:
            run = metrics.count_export(lambda: rounds.export(now), now)
        except Exception as exc:
            last_run.error = f"the last export run failed: {exc}"
            watching.export_failed(exc)
            raise
        last_run.error = None
        for customer, why in run.failures.items():
            log.error("export of customer %s failed: %s", customer, why)
        watching.exported(run, now)
        rounds.follow_up(now)  # files not collected in time; units resend what is missing
        return run

    return export
