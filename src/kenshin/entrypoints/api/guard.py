"""What every request to the admin API meets before any route: without credentials it
is answered 401 at once, its body unread (only signing in and the OpenAPI document are
open to all); a body is read only up to ``MAX_BODY`` bytes and within
``BODY_TIMEOUT_S``, so that nobody can make the server hold a large or endless body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kenshin.entrypoints.api.auth import COOKIE

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1 << 20  # no operation takes more than a few kilobytes
BODY_TIMEOUT_S = 10.0
OPEN = {("POST", "/api/v1/session"), ("GET", "/api/v1/openapi.json")}


class RequestGuard:
    """ASGI middleware of the API: credentials first, then a bounded body."""

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 401, 408 or 413 without passing it."""
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        if (method, scope["path"]) not in OPEN and not _credentials(headers):
            await _answer(send, 401, "sign in first")
            return
        if (
            not headers.get("content-length", "0").isdigit()
            or int(headers.get("content-length", "0")) > MAX_BODY
        ):
            await _answer(send, 413, f"a request body is at most {MAX_BODY} bytes")
            return
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                body = await _body(receive)
        except TimeoutError:
            await _answer(send, 408, f"no request body within {BODY_TIMEOUT_S:g} s")
            return
        if body is None:
            await _answer(send, 413, f"a request body is at most {MAX_BODY} bytes")
            return
        await self.app(scope, _replay(body, receive), send)


def _credentials(headers: dict[str, str]) -> bool:
    """Whether the request carries a session cookie or a bearer token (checked later)."""
    cookies = headers.get("cookie", "")
    has_cookie = any(c.strip().startswith(f"{COOKIE}=") for c in cookies.split(";"))
    return has_cookie or headers.get("authorization", "").lower().startswith("bearer ")


async def _body(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes ``MAX_BODY``."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += bytes(message.get("body", b""))
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body", False):
            return body


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` once, then waits on the connection as before."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
