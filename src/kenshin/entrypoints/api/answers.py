"""What a route may answer besides its success, as its ``responses=`` declares them, so
that the OpenAPI document names every status and the body each comes with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

SAID = {
    400: "The body is not JSON",
    401: "Not signed in, or an unknown, revoked or expired credential",
    403: "The role may not do this, or the CSRF token is missing",
    404: "No such object",
    409: "The object exists already",
    410: "Gone: it could be had once",
    422: "Bad input, saying why",
    503: "Not available on this server",
}


class Problem(BaseModel):
    """An error's answer: what was wrong."""

    detail: str


class BadInput(BaseModel):
    """A 422's answer: why the input was refused (a sentence, or FastAPI's list of the
    values that failed validation, each with where it was and why)."""

    detail: str | list[dict[str, Any]]


def answers(
    *statuses: int, said: Mapping[int, str] | None = None, signed_in: bool = True
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: 401 and 403 where it takes a signed-in principal,
    400 and 422 (bodies and values that cannot be read) and ``statuses``, each with its
    body; ``said`` words a status's description for this route."""
    codes = {400, 422, *statuses} | ({401, 403} if signed_in else set())
    words = {**SAID, **(said or {})}
    return {
        code: {"model": BadInput if code == 422 else Problem, "description": words[code]}
        for code in sorted(codes)
    }
