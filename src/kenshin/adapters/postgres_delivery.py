"""Customers' accounts, download receipts and unlock requests in the PostgreSQL store.

Whether a customer exists is asked of the registry (``customer_exists``), not of its
tables: the ports compose, and the registry may live elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple

from psycopg_pool import ConnectionPool

from kenshin.adapters import store_rows
from kenshin.adapters.postgres_part import PgPart
from kenshin.domain.accounts import Account, LoginFailure, Receipt, UnlockRequest
from kenshin.errors import NotFoundError

SCHEMA = """
    -- How customers log in to collect their files; ssh_keys one OpenSSH line each,
    -- allowed networks separated by spaces.
    CREATE TABLE accounts (
        customer TEXT COLLATE "C" PRIMARY KEY, password_hash TEXT,
        ssh_keys TEXT NOT NULL, allowed TEXT NOT NULL);
    -- Every completed download of a customer's file.
    CREATE TABLE receipts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer TEXT NOT NULL,
        file_name TEXT NOT NULL, revision BIGINT, bytes BIGINT NOT NULL,
        protocol TEXT NOT NULL, address TEXT NOT NULL, at BIGINT NOT NULL);
    CREATE INDEX receipts_customer ON receipts (customer, at);
    CREATE INDEX receipts_at ON receipts (at);
    CREATE INDEX receipts_file ON receipts (customer, file_name, revision);
    -- Operators' requests to clear a customer's failed logins (kenshin customers unlock):
    -- the file servers apply them and note when, and what they cleared (one per line).
    CREATE TABLE login_unlocks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer TEXT NOT NULL,
        address TEXT, requested_at BIGINT NOT NULL, done_at BIGINT,
        cleared TEXT NOT NULL DEFAULT '');
    CREATE INDEX login_unlocks_pending ON login_unlocks (id) WHERE done_at IS NULL;
"""
FAILURES_SCHEMA = """
    -- Failed logins to the file servers, by the address they count against (an IPv4
    -- address or an IPv6 /64): every file server on the store counts them and locks the
    -- address once too many came lately. Kept only while they can count.
    CREATE TABLE login_failures (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, address TEXT NOT NULL,
        customer TEXT, at DOUBLE PRECISION NOT NULL);
    CREATE INDEX login_failures_address ON login_failures (address, at);
    CREATE INDEX login_failures_customer ON login_failures (customer);
    CREATE INDEX login_failures_at ON login_failures (at);
"""
_RECEIPT = "SELECT customer, file_name, revision, bytes, protocol, address, at FROM receipts"
_UNLOCK = "SELECT id, customer, address, requested_at, done_at, cleared FROM login_unlocks"
_FAILURE = "SELECT address, customer, at FROM login_failures"


class PgDeliveries(PgPart):
    """Deliveries on the store's pool; ``customer_exists`` says which customers exist."""

    def __init__(self, pool: ConnectionPool, customer_exists: Callable[[str], bool]) -> None:
        super().__init__(pool)
        self._customer_exists = customer_exists

    def save_account(self, account: Account) -> None:
        """Create or replace the customer's account; NotFoundError for an unknown customer."""
        if not self._customer_exists(account.customer):
            raise NotFoundError(f"customer {account.customer!r} does not exist")
        with self._using(f"saving the account of {account.customer!r}") as db:
            db.execute(
                "INSERT INTO accounts VALUES (%s, %s, %s, %s) ON CONFLICT (customer) DO UPDATE"
                " SET password_hash = EXCLUDED.password_hash, ssh_keys = EXCLUDED.ssh_keys,"
                " allowed = EXCLUDED.allowed",
                store_rows.account_row(account),
            )

    def get_account(self, customer_id: str) -> Account | None:
        """The customer's account, or None."""
        with self._using("reading an account") as db:
            row = db.execute(
                "SELECT password_hash, ssh_keys, allowed FROM accounts WHERE customer = %s",
                (customer_id,),
            ).fetchone()
        return None if row is None else store_rows.account(customer_id, row)

    def add_receipt(self, receipt: Receipt) -> None:
        """Record a completed download."""
        with self._using("recording a download") as db:
            db.execute(
                "INSERT INTO receipts (customer, file_name, revision, bytes, protocol, address,"
                " at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                astuple(receipt),
            )

    def list_receipts(
        self, customer_id: str | None = None, since: int | None = None
    ) -> list[Receipt]:
        """Receipts oldest first, optionally of one customer and at or after ``since``."""
        where, args = ["TRUE"], list[object]()
        if customer_id is not None:
            where.append("customer = %s")
            args.append(customer_id)
        if since is not None:
            where.append("at >= %s")
            args.append(since)
        sql = f"{_RECEIPT} WHERE {' AND '.join(where)} ORDER BY at, id"
        with self._using("listing downloads") as db:
            rows = db.execute(sql, args).fetchall()
        return [Receipt(*r) for r in rows]

    def first_collected(self, customer_id: str, file_name: str, revision: int) -> Receipt | None:
        """The first receipt of the file at ``revision`` or a later one, or None."""
        sql = f"{_RECEIPT} WHERE customer = %s AND file_name = %s AND revision >= %s"
        with self._using("reading downloads") as db:
            row = db.execute(
                f"{sql} ORDER BY at, id LIMIT 1",
                (customer_id, file_name, revision),
            ).fetchone()
        return None if row is None else Receipt(*row)

    def request_unlock(self, customer_id: str, address: str | None, at: int) -> int:
        """Record a request to clear the customer's failed logins; its id."""
        with self._using("recording an unlock request") as db:
            row = db.execute(
                "INSERT INTO login_unlocks (customer, address, requested_at)"
                " VALUES (%s, %s, %s) RETURNING id",
                (customer_id, address, at),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def get_unlock(self, request_id: int) -> UnlockRequest | None:
        """The unlock request, or None."""
        with self._using("reading an unlock request") as db:
            row = db.execute(
                f"{_UNLOCK} WHERE id = %s",
                (request_id,),
            ).fetchone()
        return None if row is None else store_rows.unlock(row)

    def pending_unlocks(self) -> list[UnlockRequest]:
        """The unlock requests not yet applied, oldest first."""
        with self._using("reading unlock requests") as db:
            rows = db.execute(f"{_UNLOCK} WHERE done_at IS NULL ORDER BY id").fetchall()
        return [store_rows.unlock(r) for r in rows]

    def finish_unlock(self, request_id: int, cleared: Sequence[str], at: int) -> None:
        """Record that the request was applied at ``at``, and what it cleared, unless that
        was recorded already (another file server on the store applied it first)."""
        with self._using("recording an unlock") as db:
            db.execute(
                "UPDATE login_unlocks SET done_at = %s, cleared = %s"
                " WHERE id = %s AND done_at IS NULL",
                (at, "\n".join(cleared), request_id),
            )

    def add_login_failure(self, failure: LoginFailure, forget_before: float) -> None:
        """Record a failed login; forget those of every address before ``forget_before``."""
        with self._using("recording a failed login") as db:
            db.execute("DELETE FROM login_failures WHERE at < %s", (forget_before,))
            db.execute(
                "INSERT INTO login_failures (address, customer, at) VALUES (%s, %s, %s)",
                astuple(failure),
            )

    def login_failures(self, address: str, since: float) -> list[LoginFailure]:
        """The failed logins from ``address`` at or after ``since``, oldest first."""
        rows = self._rows(
            "reading failed logins",
            f"{_FAILURE} WHERE address = %s AND at >= %s ORDER BY at, id",
            (address, since),
        )
        return [LoginFailure(*r) for r in rows]

    def clear_login_failures(self, customer_id: str, address: str | None) -> list[LoginFailure]:
        """Forget every failed login from ``address`` or, if None, from each address the
        customer's came from; those forgotten, oldest first."""
        with self._using("clearing failed logins") as db:
            rows = db.execute(
                "DELETE FROM login_failures WHERE address = %(address)s OR (%(address)s IS NULL"
                " AND address IN"
                " (SELECT address FROM login_failures WHERE customer = %(customer)s))"
                " RETURNING address, customer, at, id",
                {"address": address, "customer": customer_id},
            ).fetchall()
        return [LoginFailure(*r[:3]) for r in sorted(rows, key=lambda r: (r[2], r[3]))]
