"""``kenshin files``: the file servers (FTPS, SFTP) and the HTTP side alone, serving
customers the outbox the config names, on any machine that reaches the store and the
outbox.

What makes several of them (and ``kenshin serve``) one service is kept in the store:
customers' accounts, the receipts of their downloads, failed logins and the lockouts
they lead to, operators' unlock requests. The outbox is a folder every one of them
reads (``export.outbox`` as an absolute path to a shared folder).

Start: refuse when neither server is turned on, the SFTP host key is missing (every node
must show customers the same one: it is copied, never made here) or the outbox is not a
folder, take the
data folder's ``files.lock`` (not the server's ``serve.lock``), listen (one line per
listener). SIGTERM or SIGINT: stop accepting, close the connections, store the security
events still held, let the lock go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kenshin.bootstrap import App
from kenshin.entrypoints.http import Check, HealthApp, HttpServer, HttpSettings, store_writable
from kenshin.entrypoints.listeners import Listener, announce, on_signals
from kenshin.errors import ConfigError, StoreError
from kenshin.services.alerting import SecurityEventBuffer
from kenshin.services.metrics import FilesMetrics
from kenshin.services.security import SecurityLog

if TYPE_CHECKING:
    from kenshin.entrypoints.file_servers import FileServers

log = logging.getLogger(__name__)


async def serve_files(
    app: App,
    *,
    on_listening: Callable[[list[Listener]], None] = lambda _: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the file servers until SIGTERM/SIGINT (or ``stop`` is set). ConfigError when
    there is nothing to serve (``check_files_node``); FolderInUseError if another
    ``kenshin files`` runs on the data folder."""
    check_files_node(app)
    lock = app.files_lock()
    lock.acquire()
    try:
        await _serve_files(app, on_listening, stop or asyncio.Event())
    finally:
        lock.release()


def check_files_node(app: App) -> None:
    """ConfigError, saying what to set, if this config has nothing to serve."""
    if not (app.settings.ftps.enabled or app.settings.sftp.enabled):
        raise ConfigError(
            "kenshin files: ftps.enabled and sftp.enabled are both false, so there is"
            " nothing to serve: set one of them to true"
        )
    if app.settings.sftp.enabled and not app.host_key_path.exists():
        raise ConfigError(
            f"sftp.host_key: {app.host_key_path} is missing: copy there the host key"
            " customers know (ssh/host_key of the server they collect from), so that every"
            " node shows the same one"
        )
    if not app.outbox_dir.is_dir():
        raise ConfigError(
            f"export.outbox: {app.outbox_dir} is not a folder: mount the shared outbox there,"
            " or set export.outbox to the folder the exports are written to"
        )


async def _serve_files(
    app: App, on_listening: Callable[[list[Listener]], None], stop: asyncio.Event
) -> None:
    on_signals(stop.set)
    held = SecurityEventBuffer() if app.settings.alerts.enabled else None
    security = SecurityLog(held)  # stored for the alerts evaluated elsewhere
    # The file servers' libraries take a while to import: only servers need them.
    from kenshin.entrypoints.file_servers import FileServers

    files = FileServers(app, security)
    listeners = await files.start()
    last_round = asyncio.Event()  # set once the servers stopped: no event comes after
    keeping = None if held is None else asyncio.create_task(_keep_events(app, held, last_round))
    http: HttpServer | None = None
    try:
        if app.settings.http.enabled:
            http = _http_side(app, files, security)
            listeners.append(await http.start())
        announce(listeners, on_listening)
        await stop.wait()
    finally:
        on_signals(lambda: log.warning("shutting down already"))
        log.info("shutting down: no new connections; open ones closed")
        if http is not None:
            await http.stop()
        await files.stop()
        last_round.set()
        if keeping is not None:
            await keeping
        log.info("stopped")


async def _keep_events(app: App, held: SecurityEventBuffer, last: asyncio.Event) -> None:
    """Store the security events held every ``alerts.evaluate_seconds``, and once more
    when ``last`` is set: the alerts of the process that evaluates them see them."""
    every_s = app.settings.alerts.evaluate_seconds
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(last.wait(), every_s)
        try:
            await asyncio.to_thread(held.flush, app.store.alerts)
        except StoreError as exc:  # held for the next round
            log.error("security events cannot be stored now: %s", exc)  # noqa: TRY400
        if last.is_set():
            return


def _http_side(app: App, files: FileServers, security: SecurityLog) -> HttpServer:
    """The HTTP side: this node's metrics; ready when the store is writable, the file
    servers serve and the outbox is a folder."""
    metrics = FilesMetrics(app.store.deliveries, started_at=int(time.time()))
    checks: dict[str, Check] = {
        "store": store_writable(app.store),
        "file servers": _serving(files.not_running),
        "outbox": _outbox_folder(app),
    }
    health = HealthApp(lambda: metrics.page(dict(security.counts)), checks)
    return HttpServer(HttpSettings(app.settings.http.host, app.settings.http.port), health)


def _serving(not_running: Callable[[], list[tuple[str, str]]]) -> Check:
    """The check that every file server started still serves."""

    async def check() -> str | None:
        down = not_running()
        return "; ".join(f"{name}: {why}" for name, why in down) or None

    return check


def _outbox_folder(app: App) -> Check:
    """The check that the outbox is still a folder (a shared folder may go away)."""

    async def check() -> str | None:
        if await asyncio.to_thread(app.outbox_dir.is_dir):
            return None
        return f"the outbox {app.outbox_dir} is not a folder"

    return check
