"""Operators' accounts, their sessions, API tokens and the audit log in the PostgreSQL
store: the store's ``operators`` and ``audit``.

The audit log is only ever appended to: nothing here updates or deletes its rows, and a
trigger refuses any statement that would.
"""

from __future__ import annotations

from kenshin.adapters import store_rows
from kenshin.adapters.postgres_part import PgPart
from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession

SCHEMA = """
    -- The people who run kenshin: password as an argon2 hash, the TOTP secret (raw bytes)
    -- and the time step of the last code accepted (a code is good once).
    CREATE TABLE operators (
        name TEXT COLLATE "C" PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL, totp_secret BYTEA, totp_enrolled BOOLEAN NOT NULL,
        last_totp_step BIGINT NOT NULL, failures INTEGER NOT NULL,
        locked_until BIGINT NOT NULL);
    -- Signed-in browsers, by the SHA-256 digest of their cookie's value.
    CREATE TABLE operator_sessions (
        id_hash TEXT PRIMARY KEY, operator TEXT NOT NULL, role TEXT NOT NULL,
        created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, csrf TEXT NOT NULL,
        address TEXT NOT NULL, enrolling BOOLEAN NOT NULL);
    CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
    -- Tokens for scripts, by the SHA-256 digest of the token (shown once, never kept).
    CREATE TABLE api_tokens (
        id TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE, created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
    -- Every change made through the API or the command line, in order: append-only.
    CREATE TABLE audit_log (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL,
        who TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, "before" TEXT NOT NULL, "after" TEXT NOT NULL,
        source TEXT NOT NULL);
    CREATE FUNCTION audit_log_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_log_kept BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_kept();
"""
_OPERATOR = (
    "SELECT name, role, password_hash, created_at, totp_secret, totp_enrolled,"
    " last_totp_step, failures, locked_until FROM operators"
)
_SESSION = (
    "SELECT id_hash, operator, role, created_at, expires_at, csrf, address, enrolling"
    " FROM operator_sessions"
)
_SCRIPT_KEY = (
    "SELECT id, name, role, token_hash, created_by, created_at, expires_at FROM api_tokens"
)
_NO_END = 2**63 - 1  # a seq above any (a BIGINT's largest)
_AUDIT = (
    'SELECT seq, at, who, role, action, kind, key, "before", "after", source FROM audit_log'
    " WHERE at >= %s AND seq < %s ORDER BY seq DESC LIMIT %s"
)
_SAVE_OPERATOR = """
    INSERT INTO operators VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role,
        password_hash = EXCLUDED.password_hash, created_at = EXCLUDED.created_at,
        totp_secret = EXCLUDED.totp_secret, totp_enrolled = EXCLUDED.totp_enrolled,
        last_totp_step = EXCLUDED.last_totp_step, failures = EXCLUDED.failures,
        locked_until = EXCLUDED.locked_until"""
# One statement (the row locked meanwhile): of failures counted at once, none is lost.
_COUNT_FAILURE = """
    UPDATE operators SET
        failures = CASE WHEN failures + 1 >= %(max)s THEN 0 ELSE failures + 1 END,
        locked_until = CASE WHEN failures + 1 >= %(max)s THEN %(until)s ELSE locked_until END
    WHERE name = %(name)s RETURNING name, role, password_hash, created_at, totp_secret,
        totp_enrolled, last_totp_step, failures, locked_until"""
_SAVE_SESSION = """
    INSERT INTO operator_sessions VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (id_hash) DO UPDATE SET operator = EXCLUDED.operator, role = EXCLUDED.role,
        created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
        csrf = EXCLUDED.csrf, address = EXCLUDED.address, enrolling = EXCLUDED.enrolling"""
_SAVE_SCRIPT_KEY = """
    INSERT INTO api_tokens VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
        token_hash = EXCLUDED.token_hash, created_by = EXCLUDED.created_by,
        created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at"""


class PgOperators(PgPart):
    """Accounts, sessions and tokens on the store's pool."""

    def save_operator(self, operator: Operator) -> None:
        """Add the account, or replace the one of that name."""
        self._run(
            f"saving the operator {operator.name!r}",
            _SAVE_OPERATOR,
            store_rows.operator_row(operator),
        )

    def get_operator(self, name: str) -> Operator | None:
        """The account named ``name``, or None."""
        rows = self._rows("reading an operator", f"{_OPERATOR} WHERE name = %s", (name,))
        return store_rows.operator(rows[0]) if rows else None

    def list_operators(self) -> list[Operator]:
        """Every account, by name."""
        rows = self._rows("listing operators", f"{_OPERATOR} ORDER BY name")
        return [store_rows.operator(row) for row in rows]

    def remove_operator(self, name: str) -> bool:
        """Remove the account with its sessions; False when there was none."""
        with self._using(f"removing the operator {name!r}") as db:
            db.execute("DELETE FROM operator_sessions WHERE operator = %s", (name,))
            return db.execute("DELETE FROM operators WHERE name = %s", (name,)).rowcount > 0

    def accept_totp_step(self, name: str, step: int) -> bool:
        """Record ``step`` as the last accepted step if later than the recorded one, in
        one statement; False when it is not (a code used again) or there is no account."""
        changed = self._run(
            "recording a TOTP code",
            "UPDATE operators SET last_totp_step = %s WHERE name = %s AND last_totp_step < %s",
            (step, name, step),
        )
        return changed > 0

    def count_failure(
        self, name: str, now: int, max_failures: int, lockout_s: int
    ) -> Operator | None:
        """Count a failed sign-in and, at ``max_failures``, lock the account: one
        statement."""
        found = self._rows(
            f"counting a failed sign-in of {name!r}",
            _COUNT_FAILURE,
            {"max": max_failures, "until": now + lockout_s, "name": name},
        )
        return store_rows.operator(found[0]) if found else None

    def clear_failures(self, name: str) -> None:
        """Forget the account's failed sign-ins and lift its lock."""
        self._run(
            f"clearing the failed sign-ins of {name!r}",
            "UPDATE operators SET failures = 0, locked_until = 0"
            " WHERE name = %s AND (failures <> 0 OR locked_until <> 0)",
            (name,),
        )

    def save_session(self, session: OperatorSession) -> None:
        """Add the session, or replace the one with its ``id_hash``."""
        self._run(
            "saving a session",
            _SAVE_SESSION,
            store_rows.session_row(session),
        )

    def get_session(self, id_hash: str) -> OperatorSession | None:
        """The session whose cookie digests to ``id_hash``, or None."""
        rows = self._rows("reading a session", f"{_SESSION} WHERE id_hash = %s", (id_hash,))
        return store_rows.session(rows[0]) if rows else None

    def touch_session(self, id_hash: str, expires_at: int) -> bool:
        """Move the session's ``expires_at``; False when there is no such session."""
        changed = self._run(
            "keeping a session alive",
            "UPDATE operator_sessions SET expires_at = %s WHERE id_hash = %s",
            (expires_at, id_hash),
        )
        return changed > 0

    def remove_sessions(
        self,
        *,
        id_hash: str | None = None,
        operator: str | None = None,
        expired_before: int | None = None,
    ) -> int:
        """Remove one session, every session of an operator, or those expired; how many."""
        return self._run(
            "removing sessions",
            "DELETE FROM operator_sessions WHERE id_hash = %s OR operator = %s OR expires_at < %s",
            (id_hash, operator, expired_before),
        )

    def save_token(self, token: ApiToken) -> None:
        """Add the API token."""
        self._run(
            f"saving the API token {token.name!r}",
            _SAVE_SCRIPT_KEY,
            store_rows.token_row(token),
        )

    def get_token(self, token_hash: str) -> ApiToken | None:
        """The token that digests to ``token_hash``, or None."""
        rows = self._rows(
            "reading an API token", f"{_SCRIPT_KEY} WHERE token_hash = %s", (token_hash,)
        )
        return store_rows.token(rows[0]) if rows else None

    def list_tokens(self) -> list[ApiToken]:
        """Every API token, by when made."""
        rows = self._rows("listing API tokens", f"{_SCRIPT_KEY} ORDER BY created_at, id")
        return [store_rows.token(row) for row in rows]

    def remove_token(self, token_id: str) -> bool:
        """Remove the token; False when there was none."""
        return (
            self._run("removing an API token", "DELETE FROM api_tokens WHERE id = %s", (token_id,))
            > 0
        )


class PgAuditLog(PgPart):
    """The audit log on the store's pool."""

    def append(self, entry: AuditEntry) -> int:
        """Add ``entry``; its ``seq``."""
        with self._using("appending to the audit log") as db:
            row = db.execute(
                'INSERT INTO audit_log (at, who, role, action, kind, key, "before", "after",'
                " source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
                store_rows.audit_row(entry),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def entries(
        self, since: int = 0, limit: int = 1000, before: int | None = None
    ) -> list[AuditEntry]:
        """Entries made at or after ``since`` (of ``seq`` below ``before``, if given),
        oldest first, the newest ``limit``."""
        if limit <= 0:
            return []
        below = _NO_END if before is None else min(before, _NO_END)
        rows = self._rows("reading the audit log", _AUDIT, (since, below, limit))
        return [store_rows.audit_entry(row) for row in reversed(rows)]
