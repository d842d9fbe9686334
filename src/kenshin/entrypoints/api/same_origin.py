"""The sign-in takes no authority from a cookie, but a page of another site could still
sign a victim's browser in to the attacker's account (login CSRF): a sign-in must come
from a page of this server.

A browser says where a request comes from: ``Origin`` (``null`` where the page's referrer
policy hides it, as the console's does), ``Sec-Fetch-Site``, ``Referer``. The first of
them that says something decides: it must name this server (its ``Host``). A request
with none of them (a script, ``curl``) is not from a browser page and passes; one whose
only word is an opaque ``Origin: null`` (a sandboxed frame, a page hiding itself) does
not.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.entrypoints.api.context import context_of

DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(request: Request) -> None:
    """Nothing when ``request`` comes from a page of this server (or from no browser
    page); 403, a security event, when from another site."""
    foreign = _foreign(request)
    if foreign is None:
        return
    security = context_of(request).security
    if security is not None:
        address = request.client.host if request.client else ""
        detail = f"api: {request.method} {request.url.path} from another site ({foreign[:200]})"
        security.record(SecurityEventKind.CONSOLE_CSRF_REFUSED, None, address, detail)
    raise HTTPException(status_code=403, detail="a sign-in must come from this server's page")


def _foreign(request: Request) -> str | None:
    """What says the request comes from another site, or None."""
    headers = request.headers
    here = _authority(headers.get("host", ""), request.url.scheme)
    origin = headers.get("origin")
    if origin is not None and origin != "null":
        return None if _of(origin) == here else f"Origin: {origin}"
    site = headers.get("sec-fetch-site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site: {site}"
    referer = headers.get("referer")
    if referer is not None:
        return None if _of(referer) == here else f"Referer: {referer}"
    return None if origin is None else "Origin: null"


def _of(url: str) -> tuple[str, int] | None:
    """The host and port a URL names (the scheme's port where none is given)."""
    try:
        parts = urlsplit(url)
        return _authority(parts.netloc, parts.scheme) if parts.netloc else None
    except ValueError:
        return None


def _authority(netloc: str, scheme: str) -> tuple[str, int] | None:
    """``host[:port]`` as (host, port), the port of ``scheme`` where none is given."""
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port or DEFAULT_PORTS.get(scheme.lower())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    return (host, port) if host and port else None
