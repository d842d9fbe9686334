"""Logins: argon2 hashes, allow-lists, the lockout, security events; accounts in both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Customer
from kenshin.errors import NotFoundError
from kenshin.ports import Account, Receipt, Store
from kenshin.services.accounts import (
    LoginGuard,
    LoginPolicy,
    Logins,
    address_allowed,
    generate_password,
    hash_password,
    verify_password,
)
from kenshin.services.security import SecurityLog


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore.in_memory()
    made.add_customer(Customer("C-1", "One"))
    made.add_customer(Customer("C-2", "Two"))
    yield made
    made.close()


def test_passwords_are_kept_as_argon2id_hashes() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password(None, "anything")
    assert not verify_password("not a hash", "anything")
    assert len(generate_password()) == 24
    assert generate_password() != generate_password()


def test_allow_lists() -> None:
    anywhere = Account("C-1")
    assert address_allowed(anywhere, "203.0.113.9")
    listed = Account("C-1", allowed=("10.0.0.0/8", "2001:db8::/32"))
    assert address_allowed(listed, "10.1.2.3")
    assert address_allowed(listed, "::ffff:10.1.2.3")
    assert address_allowed(listed, "2001:db8::1")
    assert not address_allowed(listed, "11.0.0.1")
    assert not address_allowed(listed, "not an address")


def test_the_guard_locks_after_the_limit_within_the_window_and_for_a_while() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=3, window_s=60, lockout_s=300))
    for t in (0, 10):
        guard.failed("C-1", "192.0.2.1", t)
    guard.failed("C-1", "192.0.2.1", 100)  # the first two are out of the window by now
    assert guard.locked("C-1", "192.0.2.1", 100) is None
    guard.failed("C-2", "192.0.2.1", 101)
    guard.failed("C-3", "192.0.2.1", 102)  # third from this address within 60 s
    assert guard.locked("C-9", "192.0.2.1", 103) == "address"
    assert guard.locked("C-1", "198.51.100.7", 103) is None
    assert guard.locked("C-9", "192.0.2.1", 402) is None  # the lockout is over
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        guard.failed("C-4", address, 500)
    assert guard.locked("C-4", "198.51.100.99", 501) == "account"


def test_logins_check_passwords_and_report_every_refusal(store: Store) -> None:
    now = [0.0]
    security = SecurityLog()
    logins = Logins(store.deliveries, security, LoginPolicy(max_failures=5), lambda: now[0])
    store.deliveries.save_account(Account("C-1", hash_password("first customer's pass")))
    assert logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    assert not logins.password("C-2", "no account yet", "192.0.2.1", "sftp")
    assert not logins.password("C-404", "no such customer", "192.0.2.1", "sftp")
    assert security.counts == {"login_failed": 2}
    for _ in range(3):
        assert not logins.password("C-1", "guess", "192.0.2.1", "ftps")
    assert not logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    assert security.counts == {"login_failed": 5, "login_locked": 1}
    now[0] = 15 * 60 + 1
    assert logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    store.deliveries.save_account(
        Account("C-1", hash_password("first customer's pass"), allowed=("10.0.0.0/8",))
    )
    assert not logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    assert security.counts["login_address_refused"] == 1


def test_accounts_are_kept_and_replaced(store: Store) -> None:
    deliveries = store.deliveries
    assert deliveries.get_account("C-1") is None
    account = Account(
        "C-1", "$argon2id$x", ("ssh-ed25519 AAAA one", "ssh-rsa BBBB"), ("10.0.0.0/8",)
    )
    deliveries.save_account(account)
    assert deliveries.get_account("C-1") == account
    deliveries.save_account(Account("C-1"))
    assert deliveries.get_account("C-1") == Account("C-1")
    with pytest.raises(NotFoundError):
        deliveries.save_account(Account("C-404"))


def test_receipts_are_listed_by_customer_and_time(store: Store) -> None:
    deliveries = store.deliveries
    rows = [
        Receipt("C-1", "a.csv", 1, 10, "ftps", "192.0.2.1", 100),
        Receipt("C-2", "b.csv", None, 20, "sftp", "192.0.2.2", 200),
        Receipt("C-1", "a.csv", 2, 11, "sftp", "192.0.2.1", 300),
    ]
    for receipt in rows:
        deliveries.add_receipt(receipt)
    assert deliveries.list_receipts() == rows
    assert deliveries.list_receipts("C-1") == [rows[0], rows[2]]
    assert deliveries.list_receipts(since=200) == rows[1:]
    assert deliveries.list_receipts("C-1", since=101) == [rows[2]]
    assert deliveries.first_collected("C-1", "a.csv", 1) == rows[0]
    assert deliveries.first_collected("C-1", "a.csv", 2) == rows[2]
    assert deliveries.first_collected("C-1", "a.csv", 3) is None
    assert deliveries.first_collected("C-2", "b.csv", 1) is None  # no revision known
