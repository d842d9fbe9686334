"""The ASGI app of the admin API and the console."""

from __future__ import annotations

from fastapi import FastAPI

from kenshin import __version__
from kenshin.entrypoints.api.console import add_console
from kenshin.entrypoints.api.context import ApiContext

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
    add_console(api)  # the page at /, its files at /assets/
    return api
