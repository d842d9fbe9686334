"""``kenshin serve``: one process running the device endpoint, ingest, the schedule and
the file servers customers collect their files from (FTPS, SFTP).

Start: listen (one line per listener), then export every ``schedule.export_minutes``.
SIGTERM or SIGINT: stop accepting, let every unit's received messages be committed
and acknowledged, finish the export run under way, close the store. A second
signal during the shutdown is ignored: cutting it short could lose acknowledgements.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from kenshin.adapters.pki import PKI_FOLDER, server_ssl_context
from kenshin.bootstrap import App
from kenshin.entrypoints.listeners import Listener
from kenshin.entrypoints.mqtt.server import DeviceEndpoint, EndpointSettings
from kenshin.services.batching import CommitQueue
from kenshin.services.ingest import Ingest
from kenshin.services.receipts import CollectionWatch
from kenshin.services.recovery import ask_for_gaps
from kenshin.services.schedule import every, export_due
from kenshin.services.security import SecurityLog

__all__ = ["Listener", "serve"]

log = logging.getLogger(__name__)


async def serve(
    app: App,
    *,
    on_listening: Callable[[list[Listener]], None] = lambda _: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then shut down without loss."""
    settings = app.settings
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    security = SecurityLog()
    commits = CommitQueue(
        Ingest(app.store, security, future_tolerance_s=app.future_tolerance_s),
        max_messages=settings.ingest.batch_messages,
        window_s=settings.mqtt.batch_window_ms / 1000,
    )
    endpoint = DeviceEndpoint(
        EndpointSettings(
            settings.mqtt.host,
            settings.mqtt.port,
            settings.mqtt.connect_timeout_s,
            settings.mqtt.revocation_check_s,
        ),
        server_ssl_context(app.data_dir / PKI_FOLDER),
        app.store,
        commits,
        security,
    )
    # The file servers' libraries take a while to import: only the server needs them.
    from kenshin.entrypoints.file_servers import FileServers

    files = FileServers(app, security)
    file_listeners = await files.start()
    try:
        await endpoint.start()
    except BaseException:
        await files.stop()
        raise
    committing = asyncio.create_task(commits.run())
    listeners = [Listener("MQTT over TLS", settings.mqtt.host, endpoint.port), *file_listeners]
    for listener in listeners:
        log.info("listening: %s on %s port %d", listener.protocol, listener.host, listener.port)
    on_listening(listeners)

    collection = CollectionWatch(settings.deliveries.collect_by_hours)

    def export(now: int) -> object:
        run = export_due(app.store, app.outbox, app.export_settings, now=now)
        collection.check(app.store, now)  # final files customers have not collected in time
        ask_for_gaps(app.store, app.recovery_settings, now=now)  # units resend what is missing
        return run

    schedule_stop = asyncio.Event()
    scheduled = asyncio.create_task(
        every(settings.schedule.export_minutes * 60, export, schedule_stop)
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: log.warning("shutting down already"))
        log.info("shutting down: no new connections; committing what was received")
        await files.stop()
        await endpoint.stop()
        await commits.close()
        await committing
        schedule_stop.set()
        await scheduled
        log.info(
            "stopped: %d batches, %d messages committed",
            commits.stats.batches,
            commits.stats.messages,
        )
