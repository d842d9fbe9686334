"""``/api/v1/users`` and ``/api/v1/tokens``: operators' accounts and API tokens, for
admins. Each change goes through ``services.operators`` / ``services.api_tokens``,
which write it to the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field, StrictInt

from kenshin.domain.operators import Action, Actor, ApiToken, Operator, Role
from kenshin.entrypoints.api.answers import answers
from kenshin.entrypoints.api.auth import Principal, allowed, keeping
from kenshin.errors import AlreadyExistsError, NotFoundError
from kenshin.services import api_tokens, operators
from kenshin.services.operators import MIN_PASSWORD, NAME, Keeping, OperatorInputError

router = APIRouter(prefix="/api/v1", tags=["users"])

Admin = Annotated[Principal, Depends(allowed(Action.MANAGE_USERS))]
Kept = Annotated[Keeping, Depends(keeping)]

MISSING = answers(404, said={404: "No such user or token"})


class NewUser(BaseModel):
    """An account to add: its name, role and first password (12 characters or more)."""

    name: str = Field(pattern=f"^{NAME.pattern}$")
    role: Role
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


class User(BaseModel):
    """An account as shown: never its password hash or TOTP secret."""

    name: str
    role: Role
    created_at: int
    totp_enrolled: bool
    locked_until: int


class NewToken(BaseModel):
    """A token to make: its name, role (at most the maker's) and lifetime in days."""

    name: str = Field(pattern=f"^{NAME.pattern}$")
    role: Role
    days: StrictInt = Field(ge=1, le=api_tokens.MAX_DAYS)


class Token(BaseModel):
    """An API token as listed: never its secret or digest."""

    id: str
    name: str
    role: Role
    created_by: str
    created_at: int
    expires_at: int


class MadeToken(Token):
    """A token just made: ``token`` is its secret, shown this once."""

    token: str


def actor_of(principal: Principal) -> Actor:
    """The audit log's actor of an API request."""
    return Actor(principal.name, principal.role.value, principal.address)


@router.get("/users", responses=answers())
def list_users(principal: Admin, kept: Kept) -> list[User]:
    """Every operator's account, by name."""
    return [_user(o) for o in operators.list_operators(kept)]


@router.post("/users", status_code=201, responses=answers(409, said={409: "That name is taken"}))
def add_user(body: NewUser, principal: Admin, kept: Kept) -> User:
    """Add an account; an admin or operator enrols TOTP at their first sign-in."""
    with _answering():
        return _user(
            operators.add_operator(kept, actor_of(principal), body.name, body.role, body.password)
        )


@router.delete(
    "/users/{name}",
    status_code=204,
    responses=answers(404, 409, said={404: "No such user", 409: "The only admin"}),
)
def remove_user(name: str, principal: Admin, kept: Kept) -> Response:
    """Remove an account, its sessions and the tokens it made; never the only admin's."""
    with _answering():
        operators.remove_operator(kept, actor_of(principal), name)
    return Response(status_code=204)


@router.post("/users/{name}/reset-totp", responses=MISSING)
def reset_totp(name: str, principal: Admin, kept: Kept) -> User:
    """A new TOTP secret to enrol at the next sign-in; the account's sessions end."""
    with _answering():
        return _user(operators.reset_totp(kept, actor_of(principal), name))


@router.post("/users/{name}/unlock", responses=MISSING)
def unlock_user(name: str, principal: Admin, kept: Kept) -> User:
    """Lift the account's lock after too many failed sign-ins; nothing else changes."""
    with _answering():
        return _user(operators.unlock_operator(kept, actor_of(principal), name))


@router.get("/tokens", responses=answers())
def list_tokens(principal: Admin, kept: Kept) -> list[Token]:
    """Every API token, by when made."""
    return [_token(t) for t in kept.operators.list_tokens()]


@router.post("/tokens", status_code=201, responses=answers())
def make_token(body: NewToken, principal: Admin, kept: Kept) -> MadeToken:
    """Make a token; its secret is in this answer only."""
    with _answering():
        secret, token = api_tokens.make_token(
            kept,
            actor_of(principal),
            name=body.name,
            role=body.role,
            maker_role=principal.role,
            days=body.days,
        )
    return MadeToken(token=secret, **_token(token).model_dump())


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses=MISSING,
)
def revoke_token(token_id: str, principal: Admin, kept: Kept) -> Response:
    """Revoke a token: requests with it are refused from now."""
    with _answering():
        api_tokens.revoke_token(kept, actor_of(principal), token_id)
    return Response(status_code=204)


@contextmanager
def _answering() -> Iterator[None]:
    """The services' errors as HTTP answers: 404, 409, 422."""
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except (AlreadyExistsError, operators.LastAdminError) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except OperatorInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _user(operator: Operator) -> User:
    return User.model_validate(operators.described(operator))


def _token(token: ApiToken) -> Token:
    return Token.model_validate(api_tokens.described(token))
