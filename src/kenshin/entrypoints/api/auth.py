"""Who is asking, and whether their role allows it.

``current_principal`` finds the operator behind a request: a session cookie (with the
CSRF token on every changing request) or an ``Authorization: Bearer`` API token; it
answers 401 without either. ``allowed(action)`` is the dependency a route declares: the
principal when the role allows ``action``, else 403. Users and tokens are managed by a
person signed in (a session, which passed TOTP), never by an API token: a token that
could make tokens would outlive its maker and renew itself. Refusals are security events.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request

from kenshin.domain.operators import Action, OperatorSession, Role, allows
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.entrypoints.api.context import ApiContext, context_of
from kenshin.services.api_tokens import token_of
from kenshin.services.console_sessions import ConsoleSessions
from kenshin.services.operators import Keeping, keeping_of

COOKIE = "kenshin_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BY_A_PERSON = "users and tokens are managed by a person signed in, not by a token"


# What each route may answer besides its own success, for the OpenAPI document.
@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: an operator's ``name`` (``token:NAME`` for an API token),
    their ``role``, ``via`` ``session`` or ``token``, the client's ``address``, and the
    token's id (for a token)."""

    name: str
    role: Role
    via: str
    address: str
    token_id: str | None = None

    @property
    def owner(self) -> str:
        """Who this is, unique to them (what a device's bundle is kept for): the
        operator's name, or ``token#ID`` (no operator's name has a ``#``)."""
        return self.name if self.token_id is None else f"token#{self.token_id}"


def keeping(context: ApiContext = Depends(context_of)) -> Keeping:  # noqa: B008 - FastAPI's way
    """The operators' accounts and audit log of the API's store, on its clock."""
    return keeping_of(context.app.store, context.clock)


def sessions(context: ApiContext = Depends(context_of)) -> ConsoleSessions:  # noqa: B008 - FastAPI's way
    """Signing in and the sessions, refusals recorded in the server's security log."""
    http = context.app.settings.http
    return ConsoleSessions(
        keeping(context),
        context.security,
        session_s=http.session_hours * 3600,
        idle_s=http.session_idle_minutes * 60,
    )


def address_of(request: Request) -> str:
    """The client's address, as events and the audit log name it."""
    return request.client.host if request.client else ""


def cookie_session(
    request: Request,
    console: ConsoleSessions = Depends(sessions),  # noqa: B008 - FastAPI's way
) -> OperatorSession:
    """The live session of the request's cookie (enrolling or not), its CSRF token
    checked on a changing request; 401 without one, 403 without the token."""
    cookie = request.cookies.get(COOKIE)
    session = console.session_of(cookie, address_of(request)) if cookie else None
    if session is None:
        raise HTTPException(status_code=401, detail="sign in first")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            _event(request, SecurityEventKind.CONSOLE_CSRF_REFUSED, session.operator, "no CSRF")
            raise HTTPException(status_code=403, detail=f"the {CSRF_HEADER} header is missing")
    return session


def current_principal(
    request: Request,
    console: ConsoleSessions = Depends(sessions),  # noqa: B008 - FastAPI's way
) -> Principal:
    """The principal behind ``request``; 401 when there is none (or its session is
    still enrolling TOTP), 403 for a changing request without its CSRF token."""
    address = address_of(request)
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        context = context_of(request)
        token = token_of(console.keeping, context.security, credential.strip(), address)
        if token is None:
            raise HTTPException(status_code=401, detail="the token is unknown, revoked or expired")
        return Principal(f"token:{token.name}", token.role, "token", address, token.id)
    session = cookie_session(request, console)
    if session.enrolling:
        raise HTTPException(status_code=401, detail="confirm a TOTP code first")
    return Principal(session.operator, session.role, "session", address)


def allowed(action: Action) -> Callable[..., Principal]:
    """The dependency of a route doing ``action``: its principal, or 403."""

    def check(
        request: Request,
        principal: Principal = Depends(current_principal),  # noqa: B008 - FastAPI's way
    ) -> Principal:
        why = f"{request.method} {request.url.path} needs {action.value}"
        if not allows(principal.role, action):
            _event(request, SecurityEventKind.CONSOLE_FORBIDDEN, principal.name, why)
            raise HTTPException(
                status_code=403, detail=f"the {principal.role} role may not {action.value}"
            )
        if action is Action.MANAGE_USERS and principal.via != "session":
            _event(request, SecurityEventKind.CONSOLE_FORBIDDEN, principal.name, f"{why}: a token")
            raise HTTPException(status_code=403, detail=BY_A_PERSON)
        return principal

    return check


def _event(request: Request, kind: SecurityEventKind, who: str, detail: str) -> None:
    security = context_of(request).security
    if security is not None:
        security.record(kind, who, address_of(request), f"api: {detail}")
