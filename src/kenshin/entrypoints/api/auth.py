"""Who is asking, and whether their role allows it.

``current_principal`` finds the operator behind a request: a session cookie (with the
CSRF token on every changing request) or an ``Authorization: Bearer`` API token; it
answers 401 without either. ``allowed(action)`` is the dependency a route declares: the
principal when the role allows ``action``, else 403. Refusals are security events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request

from kenshin.domain.operators import Action, Role, allows


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: an operator's ``name`` (``token:NAME`` for an API token),
    their ``role``, ``via`` ``session`` or ``token``, and the client's ``address``."""

    name: str
    role: Role
    via: str
    address: str


async def current_principal(request: Request) -> Principal:
    """The principal behind ``request``; 401 when there is none."""
    raise HTTPException(status_code=401, detail="sign in first")


def allowed(action: Action) -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route doing ``action``: its principal, or 403."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:  # noqa: B008 - FastAPI's way
        if not allows(principal.role, action):
            raise HTTPException(
                status_code=403, detail=f"the {principal.role} role may not {action.value}"
            )
        return principal

    return check
