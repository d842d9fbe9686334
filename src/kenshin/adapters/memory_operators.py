"""Operators, their sessions and tokens, and the audit log in memory: the MemoryStore's
``operators`` and ``audit``."""

from __future__ import annotations

import threading
from dataclasses import replace

from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession


class MemoryOperators:
    """Accounts, sessions and tokens in dicts, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operators: dict[str, Operator] = {}
        self._sessions: dict[str, OperatorSession] = {}
        self._tokens: dict[str, ApiToken] = {}

    def save_operator(self, operator: Operator) -> None:
        """Add the account, or replace the one of that name."""
        with self._lock:
            self._operators[operator.name] = operator

    def get_operator(self, name: str) -> Operator | None:
        """The account named ``name``, or None."""
        return self._operators.get(name)

    def list_operators(self) -> list[Operator]:
        """Every account, by name."""
        return sorted(self._operators.values(), key=lambda o: o.name)

    def remove_operator(self, name: str) -> bool:
        """Remove the account with its sessions; False when there was none."""
        with self._lock:
            gone = self._operators.pop(name, None)
        self.remove_sessions(operator=name)
        return gone is not None

    def accept_totp_step(self, name: str, step: int) -> bool:
        """Record ``step`` as the last accepted step if later than the recorded one."""
        with self._lock:
            operator = self._operators.get(name)
            if operator is None or step <= operator.last_totp_step:
                return False
            self._operators[name] = replace(operator, last_totp_step=step)
            return True

    def count_failure(
        self, name: str, now: int, max_failures: int, lockout_s: int
    ) -> Operator | None:
        """Count a failed sign-in; at ``max_failures`` lock the account, under the lock."""
        with self._lock:
            operator = self._operators.get(name)
            if operator is None:
                return None
            failures = operator.failures + 1
            if failures >= max_failures:
                operator = replace(operator, failures=0, locked_until=now + lockout_s)
            else:
                operator = replace(operator, failures=failures)
            self._operators[name] = operator
            return operator

    def clear_failures(self, name: str) -> None:
        """Forget the account's failed sign-ins and lift its lock."""
        with self._lock:
            operator = self._operators.get(name)
            if operator is not None:
                self._operators[name] = replace(operator, failures=0, locked_until=0)

    def save_session(self, session: OperatorSession) -> None:
        """Add the session, or replace the one with its ``id_hash``."""
        with self._lock:
            self._sessions[session.id_hash] = session

    def get_session(self, id_hash: str) -> OperatorSession | None:
        """The session whose cookie digests to ``id_hash``, or None."""
        return self._sessions.get(id_hash)

    def touch_session(self, id_hash: str, expires_at: int) -> bool:
        """Move the session's ``expires_at``; False when there is no such session."""
        with self._lock:
            session = self._sessions.get(id_hash)
            if session is None:
                return False
            self._sessions[id_hash] = replace(session, expires_at=expires_at)
            return True

    def remove_sessions(
        self,
        *,
        id_hash: str | None = None,
        operator: str | None = None,
        expired_before: int | None = None,
    ) -> int:
        """Remove one session, every session of an operator, or those expired; how many."""
        with self._lock:
            gone = [
                key
                for key, s in self._sessions.items()
                if key == id_hash
                or (operator is not None and s.operator == operator)
                or (expired_before is not None and s.expires_at < expired_before)
            ]
            for key in gone:
                del self._sessions[key]
        return len(gone)

    def save_token(self, token: ApiToken) -> None:
        """Add the API token."""
        with self._lock:
            self._tokens[token.id] = token

    def get_token(self, token_hash: str) -> ApiToken | None:
        """The token that digests to ``token_hash``, or None."""
        return next((t for t in self._tokens.values() if t.token_hash == token_hash), None)

    def list_tokens(self) -> list[ApiToken]:
        """Every API token, by when made."""
        return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.id))

    def remove_token(self, token_id: str) -> bool:
        """Remove the token; False when there was none."""
        with self._lock:
            return self._tokens.pop(token_id, None) is not None


class MemoryAuditLog:
    """The audit log in a list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[AuditEntry] = []

    def append(self, entry: AuditEntry) -> int:
        """Add ``entry``; its ``seq``."""
        with self._lock:
            seq = len(self._entries) + 1
            self._entries.append(replace(entry, seq=seq))
        return seq

    def entries(
        self, since: int = 0, limit: int = 1000, before: int | None = None
    ) -> list[AuditEntry]:
        """Entries made at or after ``since`` (of ``seq`` below ``before``, if given),
        oldest first, the newest ``limit``."""
        found = [e for e in self._entries if e.at >= since and (before is None or e.seq < before)]
        return found[-limit:] if limit > 0 else []
