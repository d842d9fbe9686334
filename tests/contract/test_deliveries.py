"""Accounts, receipts of downloads and unlock requests kept by every store."""

from __future__ import annotations

import pytest

from kenshin.domain.accounts import Account, Receipt, UnlockRequest
from kenshin.domain.model import Customer
from kenshin.errors import NotFoundError
from kenshin.ports import Store


def test_accounts_are_kept_and_replaced(store: Store) -> None:
    store.registry.add_customer(Customer("C-1", "One"))
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
        Receipt("C-1", "a.csv.1", 3, 12, "sftp", "192.0.2.1", 300),  # the same second
    ]
    for receipt in rows:
        deliveries.add_receipt(receipt)
    assert deliveries.list_receipts() == rows
    assert deliveries.list_receipts("C-1") == [rows[0], rows[2], rows[3]]
    assert deliveries.list_receipts(since=200) == rows[1:]
    assert deliveries.list_receipts("C-1", since=101) == rows[2:]
    assert deliveries.first_collected("C-1", "a.csv", 1) == rows[0]
    assert deliveries.first_collected("C-1", "a.csv", 2) == rows[2]
    assert deliveries.first_collected("C-1", "a.csv", 3) is None
    assert deliveries.first_collected("C-2", "b.csv", 1) is None  # no revision known


def test_unlock_requests_are_kept_until_applied(store: Store) -> None:
    deliveries = store.deliveries
    first = deliveries.request_unlock("C-1", None, 100)
    second = deliveries.request_unlock("C-2", "192.0.2.1", 101)
    assert deliveries.get_unlock(first) == UnlockRequest(first, "C-1", None, 100)
    assert deliveries.get_unlock(second + 1) is None
    assert [u.id for u in deliveries.pending_unlocks()] == [first, second]
    deliveries.finish_unlock(
        second, ["3 failed logins from 192.0.2.1 cleared", "192.0.2.1 unlocked"], 102
    )
    assert deliveries.pending_unlocks() == [UnlockRequest(first, "C-1", None, 100)]
    assert deliveries.get_unlock(second) == UnlockRequest(
        second,
        "C-2",
        "192.0.2.1",
        101,
        102,
        ("3 failed logins from 192.0.2.1 cleared", "192.0.2.1 unlocked"),
    )
    deliveries.finish_unlock(first, [], 103)
    assert deliveries.get_unlock(first) == UnlockRequest(first, "C-1", None, 100, 103)
    deliveries.finish_unlock(second, [], 104)  # another file server, later: the first stays
    assert deliveries.get_unlock(second) == UnlockRequest(
        second,
        "C-2",
        "192.0.2.1",
        101,
        102,
        ("3 failed logins from 192.0.2.1 cleared", "192.0.2.1 unlocked"),
    )
