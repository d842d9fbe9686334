"""The delivery ports: where customers' files are published, and customers' logins to the
file servers with the receipts of their downloads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kenshin.domain.accounts import Account, LoginFailure, Receipt, UnlockRequest


class Deliveries(Protocol):
    """Customers' logins to the file servers, their failed logins (which every file server
    counts, so that a lockout holds on all of them) and the receipts of their downloads."""

    def save_account(self, account: Account) -> None:
        """Create or replace the customer's account; NotFoundError for an unknown customer."""

    def get_account(self, customer_id: str) -> Account | None:
        """The customer's account, or None."""

    def add_receipt(self, receipt: Receipt) -> None:
        """Record a completed download."""

    def list_receipts(
        self, customer_id: str | None = None, since: int | None = None
    ) -> list[Receipt]:
        """Receipts oldest first, optionally of one customer and at or after ``since``."""

    def first_collected(self, customer_id: str, file_name: str, revision: int) -> Receipt | None:
        """The first receipt of the file at ``revision`` or a later one, or None."""

    def request_unlock(self, customer_id: str, address: str | None, at: int) -> int:
        """Record a request to clear the customer's failed logins; its id."""

    def get_unlock(self, request_id: int) -> UnlockRequest | None:
        """The unlock request, or None."""

    def pending_unlocks(self) -> list[UnlockRequest]:
        """The unlock requests not yet applied, oldest first."""

    def finish_unlock(self, request_id: int, cleared: Sequence[str], at: int) -> None:
        """Record that the request was applied at ``at``, and what it cleared, unless that
        was recorded already (another file server on the store applied it first)."""

    def add_login_failure(self, failure: LoginFailure, forget_before: float) -> None:
        """Record a failed login; forget those of every address before ``forget_before``."""

    def login_failures(self, address: str, since: float) -> list[LoginFailure]:
        """The failed logins from ``address`` at or after ``since``, oldest first."""

    def clear_login_failures(self, customer_id: str, address: str | None) -> list[LoginFailure]:
        """Forget every failed login from ``address`` or, if None, from each address the
        customer's came from; those forgotten, oldest first."""


class Outbox(Protocol):
    """Where customer files are published; a client never sees half a file."""

    def publish(self, customer_id: str, name: str, content: bytes) -> None:
        """Publish ``content`` as the file, durably, replacing it if it exists: a reader
        sees the old file or the new one, never half of one. A name that is not one
        plain component (empty, a dot name, a separator) is an ExportError."""

    def read(self, customer_id: str, name: str) -> bytes | None:
        """The published file's bytes, or None."""

    def list_files(self, customer_id: str) -> list[str]:
        """Names of the customer's published files, sorted; never a temporary."""

    def remove(self, customer_id: str, name: str) -> None:
        """Remove a published file if it exists."""
