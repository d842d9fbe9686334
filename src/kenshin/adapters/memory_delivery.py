"""Customers' accounts and download receipts in memory: the MemoryStore's ``deliveries``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from kenshin.domain.accounts import Account, LoginFailure, Receipt, UnlockRequest
from kenshin.errors import NotFoundError


class MemoryDeliveries:
    """Deliveries in a dict and a list; ``has_customer`` says which customers exist."""

    def __init__(self, has_customer: Callable[[str], bool]) -> None:
        self._has_customer = has_customer
        self._accounts: dict[str, Account] = {}
        self._receipts: list[Receipt] = []
        self._unlocks: list[UnlockRequest] = []
        self._failures: list[LoginFailure] = []

    def save_account(self, account: Account) -> None:
        """Create or replace the customer's account; NotFoundError for an unknown customer."""
        if not self._has_customer(account.customer):
            raise NotFoundError(f"customer {account.customer!r} does not exist")
        self._accounts[account.customer] = account

    def get_account(self, customer_id: str) -> Account | None:
        """The customer's account, or None."""
        return self._accounts.get(customer_id)

    def add_receipt(self, receipt: Receipt) -> None:
        """Record a completed download."""
        self._receipts.append(receipt)

    def list_receipts(
        self, customer_id: str | None = None, since: int | None = None
    ) -> list[Receipt]:
        """Receipts oldest first, optionally of one customer and at or after ``since``."""
        found = [
            r
            for r in self._receipts
            if (customer_id is None or r.customer == customer_id)
            and (since is None or r.at >= since)
        ]
        return sorted(found, key=lambda r: r.at)

    def first_collected(self, customer_id: str, file_name: str, revision: int) -> Receipt | None:
        """The first receipt of the file at ``revision`` or a later one, or None."""
        found = [
            r
            for r in self.list_receipts(customer_id)
            if r.file_name == file_name and r.revision is not None and r.revision >= revision
        ]
        return found[0] if found else None

    def request_unlock(self, customer_id: str, address: str | None, at: int) -> int:
        """Record a request to clear the customer's failed logins; its id."""
        self._unlocks.append(UnlockRequest(len(self._unlocks) + 1, customer_id, address, at))
        return len(self._unlocks)

    def get_unlock(self, request_id: int) -> UnlockRequest | None:
        """The unlock request, or None."""
        return self._unlocks[request_id - 1] if 0 < request_id <= len(self._unlocks) else None

    def pending_unlocks(self) -> list[UnlockRequest]:
        """The unlock requests not yet applied, oldest first."""
        return [u for u in self._unlocks if u.done_at is None]

    def finish_unlock(self, request_id: int, cleared: Sequence[str], at: int) -> None:
        """Record that the request was applied at ``at``, and what it cleared, unless that
        was recorded already (another file server on the store applied it first)."""
        request = self._unlocks[request_id - 1]
        if request.done_at is None:
            self._unlocks[request_id - 1] = replace(request, done_at=at, cleared=tuple(cleared))

    def add_login_failure(self, failure: LoginFailure, forget_before: float) -> None:
        """Record a failed login; forget those of every address before ``forget_before``."""
        self._failures = [f for f in self._failures if f.at >= forget_before]
        self._failures.append(failure)

    def login_failures(self, address: str, since: float) -> list[LoginFailure]:
        """The failed logins from ``address`` at or after ``since``, oldest first."""
        found = [f for f in self._failures if f.address == address and f.at >= since]
        return sorted(found, key=lambda f: f.at)

    def clear_login_failures(self, customer_id: str, address: str | None) -> list[LoginFailure]:
        """Forget every failed login from ``address`` or, if None, from each address the
        customer's came from; those forgotten, oldest first."""
        places = (
            {address}
            if address is not None
            else {f.address for f in self._failures if f.customer == customer_id}
        )
        gone = [f for f in self._failures if f.address in places]
        self._failures = [f for f in self._failures if f.address not in places]
        return sorted(gone, key=lambda f: f.at)
