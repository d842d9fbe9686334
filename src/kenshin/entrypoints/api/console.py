"""The operator console: the static files of ``kenshin/entrypoints/console/``
(``index.html``, ES modules, one stylesheet) served by the admin API app, the page at
``/`` and the rest under ``/assets/``.

The page loads nothing from other sites and runs no inline script; every answer of the
app carries a strict Content-Security-Policy, refuses framing and sends no referrer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FILES = Path(__file__).resolve().parent.parent / "console"
ASSETS = "/assets"

# img-src data: for the TOTP enrolment QR code (an SVG of our own, shown as an <img>).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_console(api: FastAPI) -> None:
    """Serve the console from ``api``: the page at ``/`` (never cached, so a new
    version is picked up at once) and its modules and stylesheet under ``/assets/``;
    the security headers on every answer of ``api``."""

    @api.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(
            FILES / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )

    api.mount(ASSETS, StaticFiles(directory=FILES, check_dir=True), name="console-assets")
    api.add_middleware(SecurityHeaders)
