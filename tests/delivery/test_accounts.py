"""Logins: argon2 hashes, allow-lists, delays and lockouts after failures, security events;
accounts in both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Account
from kenshin.domain.model import Customer
from kenshin.ports import Store
from kenshin.services.accounts import (
    Logins,
    address_allowed,
    generate_password,
    hash_password,
    verify_password,
)
from kenshin.services.login_guard import LoginGuard, LoginPolicy
from kenshin.services.security import SecurityLog


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore.in_memory()
    made.registry.add_customer(Customer("C-1", "One"))
    made.registry.add_customer(Customer("C-2", "Two"))
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


def test_the_guard_locks_an_address_after_the_limit_within_the_window_and_for_a_while() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=3, window_s=60, lockout_s=300, delay_s=0))
    for t in (0, 10):
        guard.failed("C-1", "192.0.2.1", t)
    guard.failed("C-1", "192.0.2.1", 100)  # the first two are out of the window by now
    assert guard.refusal("C-1", "192.0.2.1", 100) is None
    guard.failed("C-2", "192.0.2.1", 101)
    guard.failed(None, "192.0.2.1", 102)  # third from this address within 60 s
    assert guard.refusal("C-9", "192.0.2.1", 103) == "address locked"
    assert guard.refusal("C-9", "192.0.2.1", 103, exempt=True) is None  # allow-listed
    assert guard.refusal("C-1", "198.51.100.7", 103) is None
    assert guard.refusal("C-9", "192.0.2.1", 402) is None  # the lockout is over
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        guard.failed("C-4", address, 500)
    assert guard.refusal("C-4", "198.51.100.99", 501) is None  # no account is locked


def test_the_guard_keeps_accounts_and_addresses_apart() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=2, delay_s=0))
    guard.failed("@192.0.2.1", "198.51.100.7", 0)
    guard.failed("192.0.2.1", "198.51.100.7", 1)
    assert guard.refusal("C-1", "192.0.2.1", 2) is None
    assert guard.refusal("C-1", "198.51.100.7", 2) == "address locked"


def test_the_delay_doubles_with_each_failure_of_an_account_from_an_address() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=100, delay_s=1, max_delay_s=8))
    delays = []
    for t in range(0, 600, 60):
        guard.failed("C-1", "192.0.2.1", t)
        delays.append(guard.delay("C-1", "192.0.2.1"))
    assert delays == [1, 2, 4, 8, 8, 8, 8, 8, 8, 8]
    assert guard.delay("C-1", "192.0.2.2") == 1  # another address: its own count
    assert guard.delay("C-2", "192.0.2.1") == 1  # another account too
    # A try before the last failure's answer was due is refused unchecked.
    assert guard.refusal("C-1", "192.0.2.1", 547) == (
        "too soon after 10 failed logins of this account from there"
    )
    assert guard.refusal("C-1", "192.0.2.1", 548) is None
    assert guard.refusal("C-2", "192.0.2.1", 547) is None
    guard.succeeded("C-1", "192.0.2.1")
    assert guard.delay("C-1", "192.0.2.1") == 1


def test_a_try_being_checked_counts_as_a_failure_to_come() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=3, delay_s=0))
    assert guard.begin("C-1", "192.0.2.1", 0) is None
    assert guard.begin("C-1", "192.0.2.1", 0) == (
        "another try of this account from there is being checked"
    )
    assert guard.begin("C-2", "192.0.2.1", 0) is None
    guard.failed(None, "192.0.2.1", 0)
    # Two being checked and one failure: the limit is reached unless they are right.
    assert guard.begin("C-3", "192.0.2.1", 0) == "address locked"
    assert guard.begin("C-3", "192.0.2.1", 0, exempt=True) is None  # allow-listed
    guard.end("C-3", "192.0.2.1", 1, right=True)
    guard.end("C-1", "192.0.2.1", 1, right=True)
    assert guard.begin("C-1", "192.0.2.1", 1) is None  # the right one was taken back
    guard.end("C-1", "192.0.2.1", 2, right=False)
    guard.end("C-2", "192.0.2.1", 2, right=False)
    assert guard.delay("C-2", "192.0.2.1") == 0
    assert guard.clear("C-2", None, 3) == [
        "1 failed login from 192.0.2.1 cleared",
        "192.0.2.1 unlocked",
    ]


def test_ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=2, delay_s=0))
    guard.failed(None, "2001:db8:1:2::1", 0)
    guard.failed(None, "2001:db8:1:2:ffff::9", 1)
    assert guard.refusal("C-1", "2001:db8:1:2::77", 2) == "address locked"
    assert guard.refusal("C-1", "2001:db8:1:3::1", 2) is None
    guard.failed(None, "::ffff:192.0.2.1", 0)
    guard.failed(None, "192.0.2.1", 1)
    assert guard.refusal("C-1", "192.0.2.1", 2) == "address locked"


def test_clearing_a_customer_forgets_its_failures_and_unlocks_their_addresses() -> None:
    guard = LoginGuard(LoginPolicy(max_failures=3, delay_s=0))
    for t in range(3):
        guard.failed("C-1", "192.0.2.1", t)
    guard.failed("C-1", "198.51.100.7", 3)
    guard.failed("C-2", "203.0.113.5", 3)
    assert guard.clear("C-1", None, 10) == [
        "3 failed logins from 192.0.2.1 cleared",
        "1 failed login from 198.51.100.7 cleared",
        "192.0.2.1 unlocked",
    ]
    assert guard.refusal("C-3", "192.0.2.1", 11) is None
    assert guard.delay("C-2", "203.0.113.5") == 0
    assert guard.clear("C-1", None, 12) == []
    for t in range(3):
        guard.failed(f"C-{t + 3}", "192.0.2.1", 20 + t)  # other accounts lock it
    assert guard.clear("C-1", "192.0.2.1", 30) == ["192.0.2.1 unlocked"]


def test_the_guard_forgets_what_no_longer_counts() -> None:
    guard = LoginGuard(LoginPolicy(window_s=60, max_delay_s=60))
    for n in range(3000):
        guard.failed(f"C-{n}", f"10.0.{n // 256}.{n % 256}", n)
    assert guard.entries < 1500  # of 6000 counted, a minute's worth and some


def test_logins_check_passwords_and_report_every_refusal(store: Store) -> None:
    now = [0.0]
    security = SecurityLog()
    policy = LoginPolicy(max_failures=5, delay_s=1)
    logins = Logins(store.deliveries, security, policy, lambda: now[0])
    store.deliveries.save_account(Account("C-1", hash_password("first customer's pass")))
    assert logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    assert not logins.password("C-2", "no account yet", "192.0.2.1", "sftp")
    assert not logins.password("C-404", "no such customer", "192.0.2.1", "sftp")
    assert not logins.password("@192.0.2.9", "not a customer id", "192.0.2.1", "sftp")
    assert security.counts == {"login_failed": 3}
    assert not logins.password("C-1", "guess", "192.0.2.1", "ftps")
    assert logins.failure_delay("C-1", "192.0.2.1") == 1
    assert not logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")  # too soon
    assert security.counts == {"login_failed": 4, "login_locked": 1}
    now[0] = 1
    assert not logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")  # locked
    assert logins.password("C-1", "first customer's pass", "192.0.2.2", "ftps")
    now[0] = 15 * 60 + 1
    assert logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    store.deliveries.save_account(
        Account("C-1", hash_password("first customer's pass"), allowed=("10.0.0.0/8",))
    )
    assert not logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    assert security.counts["login_address_refused"] == 1
    for _ in range(5):
        logins.failed("C-2", "10.1.1.1", "sftp", "no key accepted")
        now[0] += 60
    assert logins.password("C-1", "first customer's pass", "10.1.1.1", "ftps")  # allow-listed
    assert security.counts == {"login_failed": 9, "login_locked": 2, "login_address_refused": 1}


def test_logins_apply_unlock_requests(store: Store) -> None:
    logins = Logins(store.deliveries, SecurityLog(), LoginPolicy(max_failures=2, delay_s=0))
    store.deliveries.save_account(Account("C-1", hash_password("first customer's pass")))
    for _ in range(2):
        assert not logins.password("C-1", "guess", "192.0.2.1", "ftps")
    assert not logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    request = store.deliveries.request_unlock("C-1", None, 100)
    assert [u.id for u in logins.apply_unlocks()] == [request]
    applied = store.deliveries.get_unlock(request)
    assert applied is not None
    assert applied.cleared == ("2 failed logins from 192.0.2.1 cleared", "192.0.2.1 unlocked")
    assert logins.apply_unlocks() == []
    assert logins.password("C-1", "first customer's pass", "192.0.2.1", "ftps")


def test_file_servers_on_one_store_count_failures_together(store: Store) -> None:
    policy = LoginPolicy(max_failures=3, delay_s=0)
    first, second = (Logins(store.deliveries, SecurityLog(), policy) for _ in range(2))
    store.deliveries.save_account(Account("C-1", hash_password("first customer's pass")))
    assert not first.password("C-1", "guess", "192.0.2.1", "ftps")
    assert not second.password("C-1", "guess", "192.0.2.1", "sftp")
    assert second.password("C-1", "first customer's pass", "192.0.2.1", "sftp")  # not yet
    assert not first.password("C-1", "guess", "192.0.2.1", "ftps")  # the third, on the first
    assert not second.password("C-1", "first customer's pass", "192.0.2.1", "sftp")  # locked
    restarted = Logins(store.deliveries, SecurityLog(), policy)
    assert not restarted.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
    request = store.deliveries.request_unlock("C-1", None, 100)
    assert [u.id for u in first.apply_unlocks()] == [request]
    applied = store.deliveries.get_unlock(request)
    assert applied is not None
    assert applied.cleared == ("3 failed logins from 192.0.2.1 cleared", "192.0.2.1 unlocked")
    assert second.password("C-1", "first customer's pass", "192.0.2.1", "sftp")
    assert restarted.password("C-1", "first customer's pass", "192.0.2.1", "ftps")
