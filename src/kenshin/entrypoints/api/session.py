"""``/api/v1/session``: signing in to the console (password, then a TOTP code, or the
enrolment of one), what the session is, and signing out.

The session's id travels only in the ``kenshin_session`` cookie (HttpOnly,
SameSite=Strict, Secure over TLS); every sign-in and every enrolment gives a new one.
"""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from kenshin.domain.operators import OperatorSession, Role
from kenshin.domain.totp import provisioning_uri
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import (
    COOKIE,
    address_of,
    cookie_session,
    sessions,
)
from kenshin.entrypoints.api.context import context_of
from kenshin.entrypoints.api.same_origin import same_origin
from kenshin.services.console_sessions import (
    ConsoleSessions,
    SignedIn,
    SignInRefused,
    digest,
)

router = APIRouter(prefix="/api/v1/session", tags=["session"])

Console = Annotated[ConsoleSessions, Depends(sessions)]
Current = Annotated[OperatorSession, Depends(cookie_session)]

REFUSED = {401: "Wrong name, password or code, or the account is locked"}
FOREIGN = "Sent by a page of another site"


class SignIn(BaseModel):
    """A sign-in: the operator's name and password, and a TOTP code once enrolled."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    code: str | None = Field(None, max_length=16)


class TotpCode(BaseModel):
    """The first code of a new TOTP enrolment."""

    code: str = Field(min_length=1, max_length=16)


class SessionState(BaseModel):
    """The signed-in operator, the CSRF token their changing requests carry, and whether
    the session waits for a TOTP enrolment (then ``otpauth`` and ``qr_svg`` say what to
    scan, once, in the answer to the sign-in)."""

    name: str
    role: Role
    csrf: str
    enrolling: bool = False
    otpauth: str | None = None
    qr_svg: str | None = None


@router.post(
    "",
    responses=answers(401, 403, said={**REFUSED, 403: FOREIGN}, signed_in=False),
    dependencies=[Depends(same_origin)],
)
def sign_in(body: SignIn, request: Request, response: Response, console: Console) -> SessionState:
    """Sign in: a new session (its id in the cookie). An admin or operator without TOTP
    yet gets an enrolling session and the secret to scan."""
    _end_previous(request, console)
    try:
        signed = console.sign_in(body.name, body.password, body.code, address_of(request))
    except SignInRefused as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc
    _set_cookie(request, response, signed)
    state = _state(signed.session)
    if signed.session.enrolling:
        operator = console.keeping.operators.get_operator(signed.session.operator)
        secret = operator.totp_secret if operator else None
        if secret is not None:
            uri = provisioning_uri(secret, signed.session.operator)
            state.otpauth = uri
            state.qr_svg = segno.make(uri, error="m").svg_inline(scale=4)
    return state


@router.get("", responses=answers())
def session_state(session: Current) -> SessionState:
    """The session of the cookie: who, which role, its CSRF token, whether enrolling."""
    return _state(session)


@router.delete("", status_code=204, responses=answers())
def sign_out(request: Request, session: Current, console: Console) -> Response:
    """Sign out: the session ends and the cookie is cleared."""
    console.sign_out(session)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", secure=_secure(request), httponly=True)
    return response


@router.post("/totp", responses=answers(said=REFUSED))
def confirm_totp(
    body: TotpCode, request: Request, response: Response, session: Current, console: Console
) -> SessionState:
    """Confirm TOTP enrolment with the first code: a new, full session."""
    try:
        signed = console.confirm_enrolment(session, body.code, address_of(request))
    except SignInRefused as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc
    _set_cookie(request, response, signed)
    return _state(signed.session)


def _state(session: OperatorSession) -> SessionState:
    return SessionState(
        name=session.operator, role=session.role, csrf=session.csrf, enrolling=session.enrolling
    )


def _end_previous(request: Request, console: Console) -> None:
    """A cookie brought to a sign-in is never kept: its session (if any) ends."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        console.keeping.operators.remove_sessions(id_hash=digest(cookie))


def _secure(request: Request) -> bool:
    return context_of(request).secure_cookies


def _set_cookie(request: Request, response: Response, signed: SignedIn) -> None:
    response.set_cookie(
        COOKIE,
        signed.cookie,
        max_age=signed.lasts_s,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
