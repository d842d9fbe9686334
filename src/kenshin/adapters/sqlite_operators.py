"""Operators' accounts, their sessions, API tokens and the audit log in the SQLite store:
the store's ``operators`` and ``audit``.

Share the store's one connection and its lock. Their tables come with the store's
migrations (``sqlite_schema``). The audit log is only ever appended to: nothing here
updates or deletes its rows, and triggers refuse any statement that would.
"""

from __future__ import annotations

from kenshin.adapters import store_rows
from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession

SCHEMA = """
    -- The people who run kenshin: password as an argon2 hash, the TOTP secret (raw bytes)
    -- and the time step of the last code accepted (a code is good once).
    CREATE TABLE operators (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL, totp_secret BLOB, totp_enrolled INTEGER NOT NULL,
        last_totp_step INTEGER NOT NULL, failures INTEGER NOT NULL,
        locked_until INTEGER NOT NULL) WITHOUT ROWID;
    -- Signed-in browsers, by the SHA-256 digest of their cookie's value.
    CREATE TABLE operator_sessions (
        id_hash TEXT PRIMARY KEY, operator TEXT NOT NULL, role TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, csrf TEXT NOT NULL,
        address TEXT NOT NULL, enrolling INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
    -- Tokens for scripts, by the SHA-256 digest of the token (shown once, never kept).
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE, created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
    -- Every change made through the API or the command line, in order: append-only.
    -- AUTOINCREMENT: a seq is never given twice.
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, who TEXT NOT NULL,
        role TEXT NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
        "before" TEXT NOT NULL, "after" TEXT NOT NULL, source TEXT NOT NULL);
    CREATE TRIGGER audit_log_kept BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_whole BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
_OPERATOR = (
    "SELECT name, role, password_hash, created_at, totp_secret, totp_enrolled,"
    " last_totp_step, failures, locked_until FROM operators"
)
# One statement: of failures counted at once, none is lost and one locks.
_COUNT_FAILURE = """
    UPDATE operators SET
        failures = CASE WHEN failures + 1 >= ? THEN 0 ELSE failures + 1 END,
        locked_until = CASE WHEN failures + 1 >= ? THEN ? ELSE locked_until END
    WHERE name = ? RETURNING name, role, password_hash, created_at, totp_secret,
        totp_enrolled, last_totp_step, failures, locked_until"""
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
    " WHERE at >= ? AND seq < ? ORDER BY seq DESC LIMIT ?"
)


class SqliteOperators(SqlitePart):
    """Accounts, sessions and tokens on the store's connection; ``lock`` is the store's."""

    def save_operator(self, operator: Operator) -> None:
        """Add the account, or replace the one of that name."""
        with self._writing(f"saving the operator {operator.name!r}") as db:
            db.execute(
                "INSERT OR REPLACE INTO operators VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                store_rows.operator_row(operator),
            )

    def get_operator(self, name: str) -> Operator | None:
        """The account named ``name``, or None."""
        rows = self._rows("reading an operator", f"{_OPERATOR} WHERE name = ?", (name,))
        return store_rows.operator(rows[0]) if rows else None

    def list_operators(self) -> list[Operator]:
        """Every account, by name."""
        rows = self._rows("listing operators", f"{_OPERATOR} ORDER BY name")
        return [store_rows.operator(row) for row in rows]

    def remove_operator(self, name: str) -> bool:
        """Remove the account with its sessions; False when there was none."""
        with self._writing(f"removing the operator {name!r}") as db:
            db.execute("DELETE FROM operator_sessions WHERE operator = ?", (name,))
            return db.execute("DELETE FROM operators WHERE name = ?", (name,)).rowcount > 0

    def accept_totp_step(self, name: str, step: int) -> bool:
        """Record ``step`` as the last accepted step if later than the recorded one, in
        one statement; False when it is not (a code used again) or there is no account."""
        with self._writing("recording a TOTP code") as db:
            return (
                db.execute(
                    "UPDATE operators SET last_totp_step = ? WHERE name = ? AND last_totp_step < ?",
                    (step, name, step),
                ).rowcount
                > 0
            )

    def count_failure(
        self, name: str, now: int, max_failures: int, lockout_s: int
    ) -> Operator | None:
        """Count a failed sign-in and, at ``max_failures``, lock the account: one
        statement."""
        with self._writing(f"counting a failed sign-in of {name!r}") as db:
            rows = db.execute(_COUNT_FAILURE, (max_failures, max_failures, now + lockout_s, name))
            found = rows.fetchall()
        return store_rows.operator(found[0]) if found else None

    def clear_failures(self, name: str) -> None:
        """Forget the account's failed sign-ins and lift its lock."""
        with self._writing(f"clearing the failed sign-ins of {name!r}") as db:
            db.execute(
                "UPDATE operators SET failures = 0, locked_until = 0"
                " WHERE name = ? AND (failures <> 0 OR locked_until <> 0)",
                (name,),
            )

    def save_session(self, session: OperatorSession) -> None:
        """Add the session, or replace the one with its ``id_hash``."""
        with self._writing("saving a session") as db:
            db.execute(
                "INSERT OR REPLACE INTO operator_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                store_rows.session_row(session),
            )

    def get_session(self, id_hash: str) -> OperatorSession | None:
        """The session whose cookie digests to ``id_hash``, or None."""
        rows = self._rows("reading a session", f"{_SESSION} WHERE id_hash = ?", (id_hash,))
        return store_rows.session(rows[0]) if rows else None

    def touch_session(self, id_hash: str, expires_at: int) -> bool:
        """Move the session's ``expires_at``; False when there is no such session."""
        with self._writing("keeping a session alive") as db:
            return (
                db.execute(
                    "UPDATE operator_sessions SET expires_at = ? WHERE id_hash = ?",
                    (expires_at, id_hash),
                ).rowcount
                > 0
            )

    def remove_sessions(
        self,
        *,
        id_hash: str | None = None,
        operator: str | None = None,
        expired_before: int | None = None,
    ) -> int:
        """Remove one session, every session of an operator, or those expired; how many."""
        with self._writing("removing sessions") as db:
            return db.execute(
                "DELETE FROM operator_sessions WHERE id_hash = ? OR operator = ? OR expires_at < ?",
                (id_hash, operator, expired_before),
            ).rowcount

    def save_token(self, token: ApiToken) -> None:
        """Add the API token."""
        with self._writing(f"saving the API token {token.name!r}") as db:
            db.execute(
                "INSERT OR REPLACE INTO api_tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                store_rows.token_row(token),
            )

    def get_token(self, token_hash: str) -> ApiToken | None:
        """The token that digests to ``token_hash``, or None."""
        rows = self._rows(
            "reading an API token", f"{_SCRIPT_KEY} WHERE token_hash = ?", (token_hash,)
        )
        return store_rows.token(rows[0]) if rows else None

    def list_tokens(self) -> list[ApiToken]:
        """Every API token, by when made."""
        rows = self._rows("listing API tokens", f"{_SCRIPT_KEY} ORDER BY created_at, id")
        return [store_rows.token(row) for row in rows]

    def remove_token(self, token_id: str) -> bool:
        """Remove the token; False when there was none."""
        with self._writing("removing an API token") as db:
            return db.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,)).rowcount > 0


class SqliteAuditLog(SqlitePart):
    """The audit log on the store's connection; ``lock`` is the store's."""

    def append(self, entry: AuditEntry) -> int:
        """Add ``entry``; its ``seq``."""
        with self._writing("appending to the audit log") as db:
            cursor = db.execute(
                'INSERT INTO audit_log (at, who, role, action, kind, key, "before", "after",'
                " source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                store_rows.audit_row(entry),
            )
        return int(cursor.lastrowid or 0)

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
