"""The HTTP side of ``kenshin serve``: ``/metrics``, ``/healthz`` and ``/readyz``, and
every other path to the admin API and the console (``entrypoints.api``) where given.

A plain ASGI app served by uvicorn inside the server's event loop, over TLS where
certificate files are given. ``/metrics`` is the Prometheus text format;
``/healthz`` answers while the process serves; ``/readyz`` runs the readiness
checks (store writable, endpoint listening, schedule running and its exports
succeeding) and answers 503
naming each one that fails. It has no login: it listens on this machine only
unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from kenshin.entrypoints.listeners import Listener, cannot_listen
from kenshin.errors import StoreError
from kenshin.ports import Store
from kenshin.services.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]  # None when fine, else what is wrong
Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

CHECK_TIMEOUT_S = 2.0  # a readiness check that takes longer fails
MAX_BODY = 65536  # no page takes a body; more than this is not read
BODY_TIMEOUT_S = 5.0  # a request's body must have come by then
JSON = b"application/json"


HEALTH_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
Asgi = Callable[[Any, Any, Any], Awaitable[None]]  # an ASGI app (FastAPI types it its own way)


@dataclass(frozen=True)
class HttpSettings:
    """Where the HTTP side listens, and its certificate chain and key for TLS."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls: tuple[Path, Path] | None = None


class HealthApp:
    """The ASGI app: metrics, liveness, readiness; any other path to ``api`` if given."""

    def __init__(
        self,
        metrics: Callable[[], Awaitable[bytes]],
        checks: Mapping[str, Check],
        api: Asgi | None = None,
    ) -> None:
        self._metrics = metrics
        self._checks = dict(checks)
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request (``lifespan`` and other scopes are not used)."""
        if scope["type"] != "http":
            return
        if self._api is not None and scope["path"] not in HEALTH_PATHS:
            await self._api(scope, receive, send)  # it reads the body itself
            return
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                body = await _request_body(receive)
        except TimeoutError:  # a body announced and never sent holds no request open
            await _answer(send, 408, {"error": f"no request body within {BODY_TIMEOUT_S:g} s"})
            return
        if body is None:  # the client went away, or its body was not HTTP: nothing to answer
            return
        path, method = scope["path"], scope["method"]
        if len(body) > MAX_BODY:
            await _answer(send, 413, {"error": f"a request body is at most {MAX_BODY} bytes"})
        elif path not in HEALTH_PATHS:
            await _answer(send, 404, {"error": f"no such page: {path}"})
        elif method not in ("GET", "HEAD"):
            await _answer(
                send, 405, {"error": f"{method} is not allowed: only GET and HEAD"}, allow=True
            )
        elif path == "/metrics":
            await self._scrape(send)
        elif path == "/healthz":
            await _answer(send, 200, {"status": "alive"})
        else:
            await self._ready(send)

    async def _scrape(self, send: Send) -> None:
        try:
            page = await self._metrics()
        except (StoreError, OSError) as exc:  # a count could not be read: say so, not 0
            log.error("metrics not served: %s", exc)  # noqa: TRY400 - the message says it all
            await _answer(send, 503, {"error": f"metrics not available: {exc}"})
            return
        await _send(send, 200, CONTENT_TYPE.encode(), page)

    async def _ready(self, send: Send) -> None:
        names = list(self._checks)
        found = await asyncio.gather(*(_run(self._checks[name]) for name in names))
        checks = {name: problem or "ok" for name, problem in zip(names, found, strict=True)}
        ready = not any(found)
        await _answer(send, 200 if ready else 503, {"ready": ready, "checks": checks})


class HttpServer:
    """The HTTP side, listening from ``start`` until ``stop``."""

    def __init__(self, settings: HttpSettings, app: HealthApp) -> None:
        self._settings = settings
        self._app = app
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    async def start(self) -> Listener:
        """Listen; ConfigError naming the setting when the address cannot be had."""
        host, port = self._settings.host, self._settings.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._socket = socket.create_server((host, port), family=family)
        except OSError as exc:
            raise cannot_listen("http", host, port, exc) from exc
        tls = self._settings.tls
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="h11",
            timeout_graceful_shutdown=5,
            # The client's address is the connection's: X-Forwarded-For from any client
            # (all are 127.0.0.1 on the default address) would be believed otherwise.
            proxy_headers=False,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        config.load()
        if config.ssl is not None:
            config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        return Listener("HTTP (metrics, health)", host, self._socket.getsockname()[1])

    async def stop(self) -> None:
        """Stop listening; answer the requests under way."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: ``kenshin serve`` has its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def store_writable(store: Store) -> Check:
    """The check that the store can take a write now."""

    async def check() -> str | None:
        try:
            await asyncio.to_thread(store.check_writable, CHECK_TIMEOUT_S)
        except StoreError as exc:
            return f"store not writable: {exc}"
        return None

    return check


def listening(port: Callable[[], int], what: str) -> Check:
    """The check that ``what`` still listens (``port`` raises OSError once it is closed)."""

    async def check() -> str | None:
        try:
            port()
        except OSError as exc:
            return f"{what} is not listening: {exc}"
        return None

    return check


def task_running(task: asyncio.Task[Any], what: str) -> Check:
    """The check that ``task`` (the ``what`` of the server) has not ended."""

    async def check() -> str | None:
        if not task.done():
            return None
        error = None if task.cancelled() else task.exception()
        return f"{what} has stopped" + (f": {error}" if error else "")

    return check


def exports_succeeding(store: Store, run_failed: Callable[[], str | None]) -> Check:
    """The check that the last export run completed (``run_failed`` says why not) and
    that no customer's last export failed (as the store records, whoever exported)."""

    async def check() -> str | None:
        whole = run_failed()
        if whole is not None:
            return whole
        failures = await asyncio.to_thread(store.alerts.export_failures)
        if not failures:
            return None
        listed = "; ".join(f"customer {f.customer} ({f.reason})" for f in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        return f"export failing: {listed}{more}"

    return check


def all_of(*checks: Check) -> Check:
    """The check that passes when every one of ``checks`` does; else the first problem."""

    async def check() -> str | None:
        for each in checks:
            problem = await each()
            if problem is not None:
                return problem
        return None

    return check


async def _run(check: Check) -> str | None:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S + 1)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S + 1:g} s"
    except Exception as exc:  # a check that fails says so; readiness still answers
        log.exception("a readiness check failed")
        return f"the check failed: {exc}"


async def _request_body(receive: Receive) -> bytes | None:
    """The request's body, read before answering (up to just over ``MAX_BODY``), or None
    when the client disconnected first: uvicorn then has answered a malformed body
    itself, and an answer of ours would come after it."""
    body = b""
    while len(body) <= MAX_BODY:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return body


async def _answer(send: Send, status: int, body: object, *, allow: bool = False) -> None:
    extra = [(b"allow", b"GET, HEAD")] if allow else []
    await _send(send, status, JSON, json.dumps(body).encode() + b"\n", extra)


async def _send(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
