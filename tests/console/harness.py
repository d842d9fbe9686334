"""A development harness for the console: the real page and its security headers
(``add_console``) in front of a stand-in of the admin API's routes answering with
the plausible data of ``fleet.py``. Sign-in, CSRF and the role matrix behave as the
design says, so the page can be driven as a user would, without the real API.

    PYTHONPATH=src python -m tests.console.harness --port 8765 [--signed-in admin]

Users (password ``correct horse battery``, code ``123456``): ``admin``, ``operator``,
``viewer`` (no code), and ``newop``, an operator whose first sign-in enrols a TOTP
authenticator. ``--signed-in ROLE`` makes every request without a cookie that role's,
for screenshots taken by a headless browser.
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

import segno
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from kenshin.entrypoints.api.console import add_console

from . import fleet

PASSWORD = "correct horse battery"
CODE = "123456"
ROLES = {"admin": "admin", "operator": "operator", "viewer": "viewer", "newop": "operator"}
CHANGERS = {"admin", "operator"}
Json = dict[str, Any]


@dataclass
class Harness:
    """Sessions by cookie value, the enrolled users, what was changed."""

    signed_in: str | None = None
    sessions: dict[str, Json] = field(default_factory=dict)
    enrolled: set[str] = field(default_factory=lambda: {"admin", "operator"})
    devices: list[Json] = field(default_factory=fleet.devices)
    alerts: dict[str, list[Json]] = field(default_factory=fleet.alerts)
    tokens: list[Json] = field(default_factory=list)


class SignIn(BaseModel):
    name: str
    password: str
    code: str | None = None


class Code(BaseModel):
    code: str


def session_of(request: Request, x_csrf_token: Annotated[str | None, Header()] = None) -> Json:
    """The caller's session (401 without), its CSRF token checked on changes (403)."""
    harness: Harness = request.app.state.harness
    found = harness.sessions.get(request.cookies.get("kenshin_session", ""))
    if found is None and harness.signed_in:
        return {
            "name": harness.signed_in,
            "role": harness.signed_in,
            "csrf": "",
            "enrolling": False,
        }
    if found is None:
        raise HTTPException(401, "sign in first")
    if request.method != "GET" and x_csrf_token != found["csrf"] and not harness.signed_in:
        raise HTTPException(403, "the CSRF token is missing or wrong")
    return found


def reader(request: Request, session: Annotated[Json, Depends(session_of)]) -> Json:
    if session["enrolling"]:
        raise HTTPException(403, "confirm the authenticator first")
    return session


def changer(session: Annotated[Json, Depends(reader)]) -> Json:
    if session["role"] not in CHANGERS:
        raise HTTPException(403, f"the {session['role']} role may not change_fleet")
    return session


def admin(session: Annotated[Json, Depends(reader)]) -> Json:
    if session["role"] != "admin":
        raise HTTPException(403, f"the {session['role']} role may not manage_users")
    return session


Read = Annotated[Json, Depends(reader)]
Change = Annotated[Json, Depends(changer)]
Admin = Annotated[Json, Depends(admin)]


def start_session(response: Response, harness: Harness, name: str, *, enrolling: bool) -> Json:
    cookie = secrets.token_urlsafe(24)
    session = {
        "name": name,
        "role": ROLES[name],
        "csrf": secrets.token_urlsafe(16),
        "enrolling": enrolling,
    }
    harness.sessions[cookie] = session
    response.set_cookie("kenshin_session", cookie, httponly=True, samesite="strict", path="/")
    return session


def session_routes(api: FastAPI) -> None:
    @api.get("/api/v1/session")
    def get_session(session: Annotated[Json, Depends(session_of)]) -> Json:
        return session

    @api.post("/api/v1/session")
    def sign_in(body: SignIn, request: Request, response: Response) -> Json:
        harness: Harness = request.app.state.harness
        needs_code = ROLES.get(body.name) in CHANGERS and body.name in harness.enrolled
        if (
            body.name not in ROLES
            or body.password != PASSWORD
            or (needs_code and body.code != CODE)
        ):
            raise HTTPException(401, "name, password or code not accepted")
        if ROLES[body.name] in CHANGERS and body.name not in harness.enrolled:
            start_session(response, harness, body.name, enrolling=True)
            uri = f"otpauth://totp/kenshin:{body.name}?secret=JBSWY3DPEHPK3PXP&issuer=kenshin"
            return {
                "enrolling": True,
                "otpauth": uri,
                "qr_svg": segno.make(uri).svg_inline(scale=4),
            }
        return start_session(response, harness, body.name, enrolling=False)

    @api.post("/api/v1/session/totp")
    def confirm(
        body: Code,
        request: Request,
        response: Response,
        session: Annotated[Json, Depends(session_of)],
    ) -> Json:
        harness: Harness = request.app.state.harness
        if not session["enrolling"] or body.code != CODE:
            raise HTTPException(401, "code not accepted")
        harness.enrolled.add(session["name"])
        return start_session(response, harness, session["name"], enrolling=False)

    @api.delete("/api/v1/session", status_code=204)
    def sign_out(request: Request, response: Response) -> None:
        request.app.state.harness.sessions.pop(request.cookies.get("kenshin_session", ""), None)
        response.delete_cookie("kenshin_session", path="/")


def fleet_routes(api: FastAPI) -> None:  # noqa: C901 - one stand-in route after another
    @api.get("/api/v1/overview")
    def overview(request: Request, _: Read) -> Json:
        units = request.app.state.harness.devices
        count = {
            s: sum(1 for d in units if d["status"] == s) for s in ("online", "silent", "never_seen")
        }
        return {
            "units": {"total": len(units), **count},
            "ingest": {"messages_last_hour": 1912, "dead_letters_last_day": 6},
            "alerts": {"open": 3},
            "generated_at": fleet.iso(fleet.now()),
        }

    @api.get("/api/v1/customers")
    def customers(_: Read) -> list[Json]:
        return fleet.CUSTOMERS

    @api.get("/api/v1/customers/{cid}")
    def customer(cid: str, _: Read) -> Json:
        for c in fleet.CUSTOMERS:
            if c["id"] == cid:
                return c
        raise HTTPException(404, f"no customer {cid}")

    @api.get("/api/v1/customers/{cid}/files")
    def files(cid: str, _: Read) -> list[Json]:
        return fleet.files(cid)

    @api.get("/api/v1/customers/{cid}/files/{name}")
    def download(cid: str, name: str, _: Read) -> PlainTextResponse:
        return PlainTextResponse(f"meter,slot,kwh,flag\n# {cid} {name}\n", media_type="text/csv")

    @api.get("/api/v1/customers/{cid}/quality/{day}")
    def quality(cid: str, day: date, _: Read) -> Json:
        count = fleet.METERS if cid == "C-001" else 0
        return {
            "meters": [
                {"meter": fleet.meter_id(n), "flags": fleet.flags(n)} for n in range(1, count + 1)
            ]
        }

    @api.get("/api/v1/meters")
    def meters(_: Read, customer: str = "") -> list[Json]:
        count = fleet.METERS if customer in {"", "C-001"} else 0
        return [
            {
                "id": fleet.meter_id(n),
                "customer": "C-001",
                "device": f"U-{n:03d}",
                "in_service": True,
            }
            for n in range(1, count + 1)
        ]

    @api.get("/api/v1/meters/{mid}")
    def meter(mid: str, _: Read) -> Json:
        n = int(mid.rsplit("-", 1)[1])
        spans = [
            {
                "device": f"U-{n:03d}",
                "customer": "C-001",
                "from": "2026-04-01T00:00:00+09:00",
                "until": None,
            }
        ]
        if n == 3:
            spans.insert(
                0,
                {
                    "device": "U-103",
                    "customer": "C-001",
                    "from": "2025-10-01T00:00:00+09:00",
                    "until": "2026-04-01T00:00:00+09:00",
                },
            )
        return {"id": mid, "customer": "C-001", "spans": spans}

    @api.get("/api/v1/meters/{mid}/days/{day}")
    def day(mid: str, day: date, _: Read) -> Json:
        return {
            "meter": mid,
            "date": day.isoformat(),
            "slots": fleet.day_slots(int(mid.rsplit("-", 1)[1]), day),
        }

    @api.get("/api/v1/meters/{mid}/week/{day}")
    def week(mid: str, day: date, _: Read) -> Json:
        n = int(mid.rsplit("-", 1)[1])
        days = [day - timedelta(days=6 - k) for k in range(7)]
        return {
            "meter": mid,
            "days": [{"date": d.isoformat(), "slots": fleet.day_slots(n, d)} for d in days],
        }

    @api.get("/api/v1/meters/{mid}/explain")
    def explain(mid: str, slot: str, _: Read) -> Json:
        return fleet.explain(mid, slot)

    @api.get("/api/v1/dead-letters")
    def dead_letters(_: Read) -> list[Json]:
        return fleet.dead_letters()

    @api.get("/api/v1/security-events")
    def security_events(_: Read) -> list[Json]:
        return fleet.security_events()


def change_routes(api: FastAPI) -> None:
    @api.get("/api/v1/devices")
    def devices(request: Request, _: Read) -> list[Json]:
        return request.app.state.harness.devices  # type: ignore[no-any-return]

    @api.post("/api/v1/devices/{uid}/revoke")
    def revoke(uid: str, request: Request, _: Change) -> Json:
        for d in request.app.state.harness.devices:
            if d["id"] == uid:
                d["revoked"] = True
                return d  # type: ignore[no-any-return]
        raise HTTPException(404, f"no device {uid}")

    @api.post("/api/v1/devices/{uid}/resend")
    def resend(uid: str, body: dict[str, str], _: Change) -> Json:
        return {"device": uid, **body}

    @api.get("/api/v1/alerts")
    def alerts(request: Request, _: Read) -> Json:
        return request.app.state.harness.alerts  # type: ignore[no-any-return]

    @api.post("/api/v1/alerts/{key}/acknowledge")
    def acknowledge(key: str, request: Request, session: Change) -> Json:
        return set_alert(
            request, key, acknowledged_at=fleet.iso(fleet.now()), acknowledged_by=session["name"]
        )

    @api.post("/api/v1/alerts/{key}/silence")
    def silence(key: str, body: dict[str, str], request: Request, _: Change) -> Json:
        return set_alert(request, key, silenced_until=body["until"])


def set_alert(request: Request, key: str, **changes: str) -> Json:
    for alert in request.app.state.harness.alerts["open"]:
        if alert["key"] == key:
            alert.update(changes)
            return alert  # type: ignore[no-any-return]
    raise HTTPException(404, f"no open alert {key}")


def admin_routes(api: FastAPI) -> None:
    @api.get("/api/v1/users")
    def users(request: Request, _: Admin) -> list[Json]:
        enrolled = request.app.state.harness.enrolled
        return [
            {
                "name": n,
                "role": r,
                "totp_enrolled": n in enrolled,
                "created_at": "2026-11-02T09:14:00+09:00",
            }
            for n, r in ROLES.items()
        ]

    @api.get("/api/v1/tokens")
    def tokens(request: Request, _: Admin) -> list[Json]:
        return request.app.state.harness.tokens  # type: ignore[no-any-return]

    @api.post("/api/v1/tokens")
    def add_token(body: dict[str, str], request: Request, _: Admin) -> Json:
        token = {
            "id": secrets.token_hex(4),
            "name": body["name"],
            "role": body["role"],
            "created_at": fleet.iso(fleet.now()),
            "last_used_at": None,
        }
        request.app.state.harness.tokens.append(token)
        return {**token, "token": f"ksn_{secrets.token_urlsafe(24)}"}

    @api.get("/api/v1/audit")
    def audit(session: Read, since: str = "") -> list[Json]:
        if session["role"] == "viewer":
            raise HTTPException(403, "the viewer role may not read_audit")
        return fleet.audit()

    @api.get("/api/v1/audit.csv")
    def audit_csv(_: Read) -> PlainTextResponse:
        lines = ["at,who,role,action,kind,key,source"] + [
            f"{e['at']},{e['who']},{e['role']},{e['action']},{e['kind']},{e['key']},{e['source']}"
            for e in fleet.audit()
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/csv")


def make_harness(signed_in: str | None = None) -> FastAPI:
    """The stand-in API with the real console in front."""
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    api.state.harness = Harness(signed_in=signed_in)
    for routes in (session_routes, fleet_routes, change_routes, admin_routes):
        routes(api)
    add_console(api)
    return api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--signed-in", choices=sorted(set(ROLES.values())))
    arguments = parser.parse_args()
    uvicorn.run(
        make_harness(arguments.signed_in),
        host="127.0.0.1",
        port=arguments.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
