"""``kenshin serve``: one process running the device endpoint, ingest, the schedule and
the file servers customers collect their files from (FTPS, SFTP).

Start: take the data folder's lock (a second server on it exits, naming the first),
listen (one line per listener), then export every ``schedule.export_minutes``
(after a run with failures, again in ``EXPORT_RETRY_S``).
SIGTERM or SIGINT: stop accepting, let every unit's received messages be committed
and acknowledged, finish the export run under way, close the store. A second
signal during the shutdown is ignored: cutting it short could lose acknowledgements.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from kenshin.bootstrap import App
from kenshin.entrypoints.http import (
    Check,
    HealthApp,
    HttpServer,
    HttpSettings,
    all_of,
    exports_succeeding,
    listening,
    store_writable,
    task_running,
)
from kenshin.entrypoints.http_tls import tls_files
from kenshin.entrypoints.listeners import Listener, announce, on_signals
from kenshin.entrypoints.mqtt.fronts import EndpointProcesses, endpoint_processes
from kenshin.entrypoints.mqtt.server import DeviceEndpoint, endpoint_settings
from kenshin.entrypoints.scheduled import EXPORT_RETRY_S, LastRun, commit_queue, export_job
from kenshin.entrypoints.watching import Watching
from kenshin.services.batching import CommitQueue
from kenshin.services.metrics import LiveCounts, ServerMetrics
from kenshin.services.schedule import every
from kenshin.services.security import SecurityLog

if TYPE_CHECKING:
    from kenshin.entrypoints.file_servers import FileServers

__all__ = ["Listener", "serve"]

log = logging.getLogger(__name__)


async def serve(
    app: App,
    *,
    on_listening: Callable[[list[Listener]], None] = lambda _: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then shut down without loss.
    FolderInUseError if another server runs on the data folder."""
    lock = app.folder_lock()
    lock.acquire()
    try:
        await _serve(app, on_listening, stop)
    finally:
        lock.release()


async def _serve(
    app: App,
    on_listening: Callable[[list[Listener]], None],
    stop: asyncio.Event | None,
) -> None:
    stop = stop or asyncio.Event()
    on_signals(stop.set)
    watching = Watching(app)  # a wrong alert channel stops start-up here
    if app.settings.http.enabled:
        tls_files(app.settings.http, app.data_dir)  # so does the console in the clear
    security = SecurityLog(watching.security_sink)
    metrics = ServerMetrics(app.store, app.data_dir, started_at=int(time.time()))
    commits, endpoint = _endpoint(app, security, metrics)
    # The file servers' libraries take a while to import: only the server needs them.
    from kenshin.entrypoints.file_servers import FileServers

    files = FileServers(app, security)
    file_listeners = await _start(files, endpoint)
    committing = asyncio.create_task(commits.run())
    mqtt = Listener("MQTT over TLS", app.settings.mqtt.host, endpoint.port)
    listeners = [mqtt, *file_listeners]
    schedule_stop, last_run = asyncio.Event(), LastRun()
    job = export_job(app, metrics, watching, last_run)
    minutes = app.settings.schedule.export_minutes
    scheduled = asyncio.create_task(every(minutes * 60, job, schedule_stop, retry_s=EXPORT_RETRY_S))
    components = {"ingest": committing, "schedule": scheduled}
    statuses = endpoint.statuses.copy  # read from a worker thread: a copy
    watching.start(commits, components, statuses, schedule_stop, files.not_running)
    http: HttpServer | None = None
    try:
        if app.settings.http.enabled:
            checks = _running_checks(app, committing, scheduled, last_run)
            http = _http_side(app, endpoint, commits, security, metrics, checks)
            listeners.append(await http.start())
        announce(listeners, on_listening)
        await stop.wait()
    finally:
        on_signals(lambda: log.warning("shutting down already"))
        log.info("shutting down: no new connections; committing what was received")
        if http is not None:
            await http.stop()
        await files.stop()
        await endpoint.stop()
        await commits.close()
        await committing
        schedule_stop.set()
        await scheduled
        await watching.stopped()
        log.info("stopped: %d batches, %d messages committed", *_committed(commits))


async def _start(
    files: FileServers, endpoint: DeviceEndpoint | EndpointProcesses
) -> list[Listener]:
    """Start the file servers, then the endpoint (the file servers stopped again if it
    cannot start): the file servers' listeners."""
    file_listeners = await files.start()
    try:
        await endpoint.start()
    except BaseException:
        await files.stop()
        raise
    return file_listeners


def _endpoint(
    app: App, security: SecurityLog, metrics: ServerMetrics
) -> tuple[CommitQueue, DeviceEndpoint | EndpointProcesses]:
    """The commit queue and the device endpoint of the settings, in this process or in
    endpoint processes (``mqtt.processes``: the server then commits in its loop's
    thread); PkiError if the endpoint's TLS files are not usable."""
    processes = endpoint_processes(app)
    commits = commit_queue(app, security, metrics, in_loop=processes > 1)
    if processes > 1:
        return commits, EndpointProcesses(app, commits, security, processes)
    settings = endpoint_settings(app.settings.mqtt)
    return commits, DeviceEndpoint(settings, app.endpoint_tls(), app.store, commits, security)


def _running_checks(
    app: App, committing: asyncio.Task[None], scheduled: asyncio.Task[None], last_run: LastRun
) -> dict[str, Check]:
    """What readiness asks of the server's own tasks."""
    return {
        "ingest": task_running(committing, "the commit of received messages"),
        "schedule": all_of(
            task_running(scheduled, "the export schedule"),
            exports_succeeding(app.store, lambda: last_run.error),
        ),
    }


def _committed(commits: CommitQueue) -> tuple[int, int]:
    return commits.stats.batches, commits.stats.messages


def _http_side(
    app: App,
    endpoint: DeviceEndpoint | EndpointProcesses,
    commits: CommitQueue,
    security: SecurityLog,
    metrics: ServerMetrics,
    running: dict[str, Check],
) -> HttpServer:
    """The HTTP side: the metrics of the server's parts; ready when the store is
    writable, the endpoint listening and the ``running`` checks pass; the console and
    the admin API on every other path (ConfigError for it beyond this machine without
    TLS)."""

    def live() -> LiveCounts:  # read in the event loop; the page is made in a thread
        stats = replace(commits.stats)
        return LiveCounts(len(endpoint.connected), stats, commits.waiting, dict(security.counts))

    checks = {
        "store": store_writable(app.store),
        "endpoint": listening(lambda: endpoint.port, "the device endpoint"),
        **running,
    }
    settings = app.settings.http
    tls = tls_files(settings, app.data_dir)
    api = None
    if settings.console:  # the admin API's framework is loaded only to serve it
        from kenshin.entrypoints.api.app import make_api
        from kenshin.entrypoints.api.context import ApiContext

        def connected() -> frozenset[str]:
            return frozenset(endpoint.connected)

        context = ApiContext(app, security, secure_cookies=tls is not None)
        context.connected_units = connected
        api = make_api(context)
    health = HealthApp(lambda: metrics.page(live()), checks, api)
    return HttpServer(HttpSettings(settings.host, settings.port, tls), health)
