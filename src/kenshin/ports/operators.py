"""What the console and the admin API keep: operators' accounts, sessions and API
tokens, and the audit log of changes (append-only)."""

from __future__ import annotations

from typing import Protocol

from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession


class Operators(Protocol):
    """Operators' accounts, their browser sessions and the API tokens."""

    def save_operator(self, operator: Operator) -> None:
        """Add the account, or replace the one of that name."""

    def get_operator(self, name: str) -> Operator | None:
        """The account named ``name``, or None."""

    def list_operators(self) -> list[Operator]:
        """Every account, by name."""

    def remove_operator(self, name: str) -> bool:
        """Remove the account with its sessions; False when there was none."""

    def accept_totp_step(self, name: str, step: int) -> bool:
        """Record ``step`` as the account's last accepted TOTP step if it is later than
        the one recorded, atomically; False when it is not (a code used again)."""

    def count_failure(
        self, name: str, now: int, max_failures: int, lockout_s: int
    ) -> Operator | None:
        """Count a failed sign-in of the account, atomically (of failures at once, none is
        lost): at the ``max_failures``-th its count goes back to 0 and it is locked until
        ``now + lockout_s``. The account as it is then; None when there is none."""

    def clear_failures(self, name: str) -> None:
        """Forget the account's failed sign-ins and lift its lock (a sign-in succeeded)."""

    def save_session(self, session: OperatorSession) -> None:
        """Add the session, or replace the one with its ``id_hash``."""

    def get_session(self, id_hash: str) -> OperatorSession | None:
        """The session whose cookie digests to ``id_hash``, or None."""

    def touch_session(self, id_hash: str, expires_at: int) -> bool:
        """Move the session's ``expires_at`` (it was used); False when there is no such
        session (it ended meanwhile: it is not made again)."""

    def remove_sessions(
        self,
        *,
        id_hash: str | None = None,
        operator: str | None = None,
        expired_before: int | None = None,
    ) -> int:
        """Remove one session, every session of an operator, or every session whose
        ``expires_at`` is before ``expired_before`` (those given); how many went."""

    def save_token(self, token: ApiToken) -> None:
        """Add the API token."""

    def get_token(self, token_hash: str) -> ApiToken | None:
        """The token that digests to ``token_hash``, or None."""

    def list_tokens(self) -> list[ApiToken]:
        """Every API token, by when made."""

    def remove_token(self, token_id: str) -> bool:
        """Remove the token; False when there was none."""


class AuditLog(Protocol):
    """Every change made through the API or the command line, in order; never changed."""

    def append(self, entry: AuditEntry) -> int:
        """Add ``entry``; its ``seq``."""

    def entries(
        self, since: int = 0, limit: int = 1000, before: int | None = None
    ) -> list[AuditEntry]:
        """Entries made at or after ``since`` (UTC epoch s) and, when ``before`` is given,
        of a ``seq`` below it; oldest first, at most ``limit`` of them (the newest
        ``limit`` when there are more). Paging back: ``before`` the oldest ``seq`` seen."""
