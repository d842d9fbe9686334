"""The ASGI app of the admin API and the console."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from kenshin import __version__
from kenshin.entrypoints.api import (
    alerts,
    audit,
    changes,
    customers,
    device_add,
    devices,
    explain,
    files,
    fleet_overview,
    incidents,
    meters,
    report,
    session,
    users,
)
from kenshin.entrypoints.api.console import add_console
from kenshin.entrypoints.api.context import ApiContext
from kenshin.entrypoints.api.guard import RequestGuard

OPENAPI_URL = "/api/v1/openapi.json"


def make_api(context: ApiContext) -> FastAPI:
    """The admin API at ``/api/v1`` (its OpenAPI document at ``OPENAPI_URL``) and the
    console at ``/``, working on ``context``."""
    api = FastAPI(
        title="kenshin admin API",
        version=__version__,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    api.state.context = context
    routers = (
        session,
        users,
        audit,
        fleet_overview,
        customers,
        files,
        changes,
        devices,
        device_add,
        meters,
        explain,
        incidents,
        report,
        alerts,
    )
    for module in routers:
        api.include_router(module.router)
    api.add_exception_handler(HTTPException, _answer_error)  # type: ignore[arg-type]
    api.add_middleware(RequestGuard)  # credentials, then a bounded body
    add_console(api)  # the page at /, its files at /assets/
    return api


async def _answer_error(request: Request, exc: HTTPException) -> JSONResponse:
    """FastAPI's answer to an HTTP error, except that a 405's ``Allow`` lists the methods
    of every route of the path (Starlette names those of the first route only)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_methods(request)))
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers)


def _methods(request: Request) -> set[str]:
    """The methods some route takes at the request's path."""
    scope = {**request.scope, "method": ""}
    found: set[str] = set()
    for route in _routes(request.app.routes):
        methods = getattr(route, "methods", None)
        if methods and route.matches(scope)[0] is not Match.NONE:
            found |= set(methods)
    return found


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested is not None:
            yield from _routes(nested)
        else:
            yield route
