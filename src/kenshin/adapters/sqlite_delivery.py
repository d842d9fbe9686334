"""Customers' accounts and download receipts in the SQLite store.

Shares the store's one connection and its lock: the store composes it in as
``store.deliveries``. Its tables come with the store's migrations (``sqlite_schema``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple

from kenshin.adapters import store_rows
from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.accounts import Account, LoginFailure, Receipt, UnlockRequest
from kenshin.errors import NotFoundError

SCHEMA = """
    -- How customers log in to collect their files; ssh_keys one OpenSSH line each,
    -- allowed networks separated by spaces.
    CREATE TABLE accounts (
        customer TEXT PRIMARY KEY REFERENCES customers, password_hash TEXT,
        ssh_keys TEXT NOT NULL, allowed TEXT NOT NULL) WITHOUT ROWID;
    -- Every completed download of a customer's file.
    CREATE TABLE receipts (
        id INTEGER PRIMARY KEY, customer TEXT NOT NULL, file_name TEXT NOT NULL,
        revision INTEGER, bytes INTEGER NOT NULL, protocol TEXT NOT NULL,
        address TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE INDEX receipts_customer ON receipts (customer, at);
    CREATE INDEX receipts_file ON receipts (customer, file_name, revision);
"""
UNLOCKS_SCHEMA = """
    -- Operators' requests to clear a customer's failed logins (kenshin customers unlock):
    -- the file servers apply them and note when, and what they cleared (one per line).
    CREATE TABLE login_unlocks (
        id INTEGER PRIMARY KEY, customer TEXT NOT NULL, address TEXT,
        requested_at INTEGER NOT NULL, done_at INTEGER, cleared TEXT NOT NULL DEFAULT '');
    CREATE INDEX login_unlocks_pending ON login_unlocks (id) WHERE done_at IS NULL;
"""
FAILURES_SCHEMA = """
    -- Failed logins to the file servers, by the address they count against (an IPv4
    -- address or an IPv6 /64): every file server on the store counts them and locks the
    -- address once too many came lately. Kept only while they can count.
    CREATE TABLE login_failures (
        address TEXT NOT NULL, customer TEXT, at REAL NOT NULL);
    CREATE INDEX login_failures_address ON login_failures (address, at);
    CREATE INDEX login_failures_customer ON login_failures (customer);
    CREATE INDEX login_failures_at ON login_failures (at);
"""
_RECEIPT = "SELECT customer, file_name, revision, bytes, protocol, address, at FROM receipts"
_UNLOCK = "SELECT id, customer, address, requested_at, done_at, cleared FROM login_unlocks"
_FAILURE = "SELECT address, customer, at FROM login_failures"
# The failures an unlock of customer ?1 clears: those from address ?2, or if it is NULL,
# from every address the customer's came from.
_CLEARED = """
    SELECT address, customer, at FROM login_failures WHERE address = ?2 OR (?2 IS NULL
        AND address IN (SELECT address FROM login_failures WHERE customer = ?1))
    ORDER BY at, rowid"""
_CLEAR = """
    DELETE FROM login_failures WHERE address = ?2 OR (?2 IS NULL
        AND address IN (SELECT address FROM login_failures WHERE customer = ?1))"""


class SqliteDeliveries(SqlitePart):
    """Deliveries on the store's connection; ``lock`` is the store's."""

    def save_account(self, account: Account) -> None:
        """Create or replace the customer's account; NotFoundError for an unknown customer."""
        with self._using(f"saving the account of {account.customer!r}", write=True) as db:
            if db.execute("SELECT 1 FROM customers WHERE id = ?", (account.customer,)).fetchone():
                db.execute(
                    "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?)",
                    store_rows.account_row(account),
                )
                return
        raise NotFoundError(f"customer {account.customer!r} does not exist")

    def get_account(self, customer_id: str) -> Account | None:
        """The customer's account, or None."""
        with self._using("reading an account") as db:
            row = db.execute(
                "SELECT password_hash, ssh_keys, allowed FROM accounts WHERE customer = ?",
                (customer_id,),
            ).fetchone()
        return None if row is None else store_rows.account(customer_id, row)

    def add_receipt(self, receipt: Receipt) -> None:
        """Record a completed download."""
        with self._using("recording a download", write=True) as db:
            db.execute(
                "INSERT INTO receipts (customer, file_name, revision, bytes, protocol, address,"
                " at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                astuple(receipt),
            )

    def list_receipts(
        self, customer_id: str | None = None, since: int | None = None
    ) -> list[Receipt]:
        """Receipts oldest first, optionally of one customer and at or after ``since``."""
        sql = f"{_RECEIPT} WHERE (?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR at >= ?2)"
        with self._using("listing downloads") as db:
            rows = db.execute(f"{sql} ORDER BY at, id", (customer_id, since)).fetchall()
        return [Receipt(*r) for r in rows]

    def first_collected(self, customer_id: str, file_name: str, revision: int) -> Receipt | None:
        """The first receipt of the file at ``revision`` or a later one, or None."""
        sql = f"{_RECEIPT} WHERE customer = ? AND file_name = ? AND revision >= ?"
        with self._using("reading downloads") as db:
            row = db.execute(
                f"{sql} ORDER BY at, id LIMIT 1", (customer_id, file_name, revision)
            ).fetchone()
        return None if row is None else Receipt(*row)

    def request_unlock(self, customer_id: str, address: str | None, at: int) -> int:
        """Record a request to clear the customer's failed logins; its id."""
        with self._using("recording an unlock request", write=True) as db:
            cursor = db.execute(
                "INSERT INTO login_unlocks (customer, address, requested_at) VALUES (?, ?, ?)",
                (customer_id, address, at),
            )
        return int(cursor.lastrowid or 0)

    def get_unlock(self, request_id: int) -> UnlockRequest | None:
        """The unlock request, or None."""
        with self._using("reading an unlock request") as db:
            row = db.execute(f"{_UNLOCK} WHERE id = ?", (request_id,)).fetchone()
        return None if row is None else store_rows.unlock(row)

    def pending_unlocks(self) -> list[UnlockRequest]:
        """The unlock requests not yet applied, oldest first."""
        with self._using("reading unlock requests") as db:
            rows = db.execute(f"{_UNLOCK} WHERE done_at IS NULL ORDER BY id").fetchall()
        return [store_rows.unlock(r) for r in rows]

    def finish_unlock(self, request_id: int, cleared: Sequence[str], at: int) -> None:
        """Record that the request was applied at ``at``, and what it cleared, unless that
        was recorded already (another file server on the store applied it first)."""
        with self._using("recording an unlock", write=True) as db:
            db.execute(
                "UPDATE login_unlocks SET done_at = ?, cleared = ?"
                " WHERE id = ? AND done_at IS NULL",
                (at, "\n".join(cleared), request_id),
            )

    def add_login_failure(self, failure: LoginFailure, forget_before: float) -> None:
        """Record a failed login; forget those of every address before ``forget_before``."""
        with self._using("recording a failed login", write=True) as db:
            db.execute("DELETE FROM login_failures WHERE at < ?", (forget_before,))
            db.execute("INSERT INTO login_failures VALUES (?, ?, ?)", astuple(failure))

    def login_failures(self, address: str, since: float) -> list[LoginFailure]:
        """The failed logins from ``address`` at or after ``since``, oldest first."""
        rows = self._rows(
            "reading failed logins",
            f"{_FAILURE} WHERE address = ? AND at >= ? ORDER BY at, rowid",
            (address, since),
        )
        return [LoginFailure(*r) for r in rows]

    def clear_login_failures(self, customer_id: str, address: str | None) -> list[LoginFailure]:
        """Forget every failed login from ``address`` or, if None, from each address the
        customer's came from; those forgotten, oldest first."""
        args = (customer_id, address)
        with self._using("clearing failed logins", write=True) as db:
            rows = db.execute(_CLEARED, args).fetchall()
            db.execute(_CLEAR, args)
        return [LoginFailure(*r) for r in rows]
