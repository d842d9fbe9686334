"""Signing in to the console: name, password and (for the roles that need it) a TOTP
code; the session that follows, and TOTP enrolment.

Every failure answers the same ``WRONG`` so that nothing tells a guesser which part was
wrong, nor whether the name exists (a locked account answers it too), counts against
the account (``MAX_FAILURES`` lock it for ``LOCK_S``) and is a security event. A TOTP
code is good once: its step is recorded atomically, and a code of that step or an
earlier one is refused. A role that needs TOTP and has none
enrolled gets an *enrolling* session that can only confirm its first code; confirming
gives a new session (a new id, as every sign-in does: a cookie planted before cannot
be the one after). Signing in is not a change: it is not in the audit log.

A session ends ``session_s`` after it began (``http.session_hours``), or sooner when it
goes ``idle_s`` without a request (``http.session_idle_minutes``): its ``expires_at``
is moved on by a request, at most once every ``TOUCH_S`` (not a write per request).
Every sign-in removes the sessions expired by then.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import NoReturn

from kenshin.domain.operators import Operator, OperatorSession
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.domain.totp import matching_step
from kenshin.errors import KenshinError
from kenshin.services.accounts import verify_password
from kenshin.services.operators import Keeping
from kenshin.services.security import SecurityLog

MAX_FAILURES = 5
LOCK_S = 15 * 60
SESSION_S = 12 * 3600
IDLE_S = 30 * 60
TOUCH_S = 60  # a session's expiry is moved on at most this often
ENROLLING_S = 10 * 60  # time to scan the QR code and type the first code
WRONG = "wrong name, password or code"


class SignInRefused(KenshinError):
    """A sign-in or TOTP confirmation refused; its message is all the client is told."""


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``cookie`` its id (given to the browser, never stored), kept by
    the browser ``lasts_s`` (the session's whole lifetime: idle, it ends sooner)."""

    cookie: str
    session: OperatorSession
    lasts_s: int


def digest(secret: str) -> str:
    """The SHA-256 digest (hex) a session id or API token is stored and found by."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class ConsoleSessions:
    """Signing in and out, and the sessions of ``keeping``; refusals go to ``security``.
    A session lasts ``session_s`` at most, ``idle_s`` without a request."""

    keeping: Keeping
    security: SecurityLog | None = None
    session_s: int = SESSION_S
    idle_s: int = IDLE_S

    def sign_in(self, name: str, password: str, code: str | None, address: str) -> SignedIn:
        """A new session for the operator; SignInRefused when refused."""
        operator = self.keeping.operators.get_operator(name)
        right = verify_password(operator.password_hash if operator else None, password)
        if operator is not None:
            # Answered as any failure (and after as long): nothing tells a guesser which
            # names exist. The event says so; `kenshin users list` shows the lock.
            self._refuse_locked(operator, address)
        if operator is None or not right:
            self._failed(operator, name, address, "wrong password" if operator else "no such name")
        enrolling = operator.role.needs_totp and not operator.totp_enrolled
        if operator.role.needs_totp and not enrolling:
            self._check_code(operator, code or "", address)
        return self._start(name, address, enrolling=enrolling)

    def confirm_enrolment(self, session: OperatorSession, code: str, address: str) -> SignedIn:
        """Take the enrolling session's first TOTP code: the operator is enrolled and has
        a new, full session in place of ``session``; SignInRefused when the code is wrong
        or the account is locked (wrong codes count against it as at sign-in)."""
        operator = self.keeping.operators.get_operator(session.operator)
        if operator is None or not session.enrolling:
            raise SignInRefused("no TOTP enrolment is waiting: sign in again")
        self._refuse_locked(operator, address)
        self._check_code(operator, code, address)
        current = self.keeping.operators.get_operator(operator.name) or operator
        self.keeping.operators.save_operator(replace(current, totp_enrolled=True))
        self.keeping.operators.remove_sessions(id_hash=session.id_hash)
        return self._start(operator.name, address, enrolling=False)

    def session_of(self, cookie: str, address: str) -> OperatorSession | None:
        """The live session of the cookie's id; None (a security event) when there is none,
        it has expired, or its account is no longer as it was signed in: removed, of
        another role, or its TOTP reset (such a session is removed)."""
        id_hash, now = digest(cookie), int(self.keeping.clock())
        session = self.keeping.operators.get_session(id_hash)
        if session is None:
            self._event(SecurityEventKind.CONSOLE_SESSION_REFUSED, None, address, "unknown session")
            return None
        why = self._refusal(session, now)
        if why is None:
            touched = self._touched(session, now)
            if touched is not None:
                return touched
            why = "expired session"  # it ended meanwhile
        else:
            self.keeping.operators.remove_sessions(id_hash=id_hash)
        self._event(SecurityEventKind.CONSOLE_SESSION_REFUSED, session.operator, address, why)
        return None

    def _refusal(self, session: OperatorSession, now: int) -> str | None:
        """Why the session may not be used at ``now``; None when it may."""
        if now >= min(session.expires_at, self._end_of(session)):
            return "expired session"
        operator = self.keeping.operators.get_operator(session.operator)
        if operator is None:
            return "session of a removed account"
        if operator.role != session.role:
            return f"session of a {session.role} whose role is now {operator.role}"
        if operator.role.needs_totp and not session.enrolling and not operator.totp_enrolled:
            return "session from before the account's TOTP was reset"
        return None

    def sign_out(self, session: OperatorSession) -> None:
        """End the session."""
        self.keeping.operators.remove_sessions(id_hash=session.id_hash)

    def _end_of(self, session: OperatorSession) -> int:
        """When the session ends, however busy."""
        return session.created_at + (ENROLLING_S if session.enrolling else self.session_s)

    def _touched(self, session: OperatorSession, now: int) -> OperatorSession | None:
        """The session used at ``now``: its expiry moved on (if by ``TOUCH_S`` or more);
        None when it ended meanwhile."""
        until = min(now + self.idle_s, self._end_of(session))
        if until - session.expires_at < TOUCH_S:
            return session
        if not self.keeping.operators.touch_session(session.id_hash, until):
            return None
        return replace(session, expires_at=until)

    def _refuse_locked(self, operator: Operator, address: str) -> None:
        """SignInRefused (as any failure: nothing tells a guesser why) while the account
        is locked; the event says so."""
        if operator.locked_until > int(self.keeping.clock()):
            self._event(
                SecurityEventKind.CONSOLE_LOGIN_LOCKED, operator.name, address, "account locked"
            )
            raise SignInRefused(WRONG)

    def _check_code(self, operator: Operator, code: str, address: str) -> None:
        secret = operator.totp_secret
        step = matching_step(secret, code, self.keeping.clock()) if secret else None
        if step is None:
            self._failed(operator, operator.name, address, "wrong TOTP code")
        elif not self.keeping.operators.accept_totp_step(operator.name, step):
            self._event(
                SecurityEventKind.CONSOLE_TOTP_REPLAYED, operator.name, address, "code used again"
            )
            self._count_failure(operator.name)
            raise SignInRefused(WRONG)

    def _start(self, name: str, address: str, *, enrolling: bool) -> SignedIn:
        operators, now = self.keeping.operators, int(self.keeping.clock())
        operator = operators.get_operator(name)
        if operator is None:  # removed meanwhile
            raise SignInRefused(WRONG)
        if operator.failures or operator.locked_until:
            operators.clear_failures(name)
        operators.remove_sessions(expired_before=now)
        cookie = secrets.token_urlsafe(32)
        lasts = ENROLLING_S if enrolling else self.session_s
        session = OperatorSession(
            id_hash=digest(cookie),
            operator=name,
            role=operator.role,
            created_at=now,
            expires_at=now + min(lasts, self.idle_s),
            csrf=secrets.token_urlsafe(32),
            address=address,
            enrolling=enrolling,
        )
        operators.save_session(session)
        return SignedIn(cookie, session, lasts)

    def _failed(self, operator: Operator | None, name: str, address: str, why: str) -> NoReturn:
        shown = name if operator else repr(name[:64])
        self._event(SecurityEventKind.CONSOLE_LOGIN_FAILED, shown, address, why)
        if operator is not None:
            self._count_failure(operator.name)
        raise SignInRefused(WRONG)

    def _count_failure(self, name: str) -> None:
        """Counted by the store at once (failures at once cannot pass the lock)."""
        now = int(self.keeping.clock())
        self.keeping.operators.count_failure(name, now, MAX_FAILURES, LOCK_S)

    def _event(self, kind: SecurityEventKind, who: str | None, address: str, why: str) -> None:
        if self.security is not None:
            self.security.record(kind, who, address, f"console: {why}")
