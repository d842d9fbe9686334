"""The HTTP side of ``kenshin serve`` (health, admin API, console) on a real loopback
socket, in a thread with its own event loop: for tests that talk to a running server
(schemathesis, the browser). Refusals are kept as security events in the site's store, as
``kenshin serve`` keeps them (there through a buffer its alert rounds empty)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kenshin.bootstrap import App
from kenshin.domain.model import SecurityEvent
from kenshin.entrypoints.api.app import make_api
from kenshin.entrypoints.api.context import ApiContext
from kenshin.entrypoints.http import HealthApp, HttpServer, HttpSettings
from kenshin.services.security import SecurityLog

START_TIMEOUT_S = 10.0


def stored(app: App) -> SecurityLog:
    """A SecurityLog that writes each event to the site's store at once."""
    lock = threading.Lock()

    def keep(event: SecurityEvent) -> None:
        with lock:
            app.store.alerts.add_security_events([event])

    return SecurityLog(keep)


@contextmanager
def served(app: App, **context: object) -> Iterator[str]:
    """Serve the site's admin API and console on 127.0.0.1 (a free port); its base URL.
    ``context`` goes to the ApiContext (cookies are not Secure: plain HTTP on loopback;
    security events go to the store unless ``security`` is given)."""
    context.setdefault("security", stored(app))
    api = make_api(ApiContext(app, secure_cookies=False, **context))  # type: ignore[arg-type]

    async def metrics() -> bytes:
        return b""

    server = HttpServer(HttpSettings("127.0.0.1", 0), HealthApp(metrics, {}, api))
    loop = asyncio.new_event_loop()
    started: list[int] = []
    ready = threading.Event()

    async def start() -> None:
        started.append((await server.start()).port)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="served-api", daemon=True)
    thread.start()
    assert ready.wait(START_TIMEOUT_S), "the HTTP side did not start"
    try:
        yield f"http://127.0.0.1:{started[0]}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(START_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)
        loop.close()
