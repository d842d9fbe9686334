"""Password tries sent at once from one address: each waits for no other, and none gets
past the guard because another was still being checked (real threads, real argon2)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.accounts import Account
from kenshin.domain.model import Customer
from kenshin.services import accounts
from kenshin.services.accounts import Logins, hash_password
from kenshin.services.login_guard import LoginPolicy
from kenshin.services.security import SecurityLog

TRIES = 12


class Checks:
    """Counts the password checks that run, and how many ran at once at most."""

    def __init__(self, check: Callable[[str | None, str], bool]) -> None:
        self._check = check
        self._lock = threading.Lock()
        self.running = self.most = self.done = 0

    def __call__(self, stored: str | None, password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return self._check(stored, password)
        finally:
            with self._lock:
                self.running -= 1
                self.done += 1


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    counted = Checks(accounts.verify_password)
    monkeypatch.setattr(accounts, "verify_password", counted)
    return counted


def at_once(logins: Logins, tries: list[tuple[str, str]], address: str) -> list[bool]:
    """Each (account, password) tried from ``address`` by a thread of its own, together."""
    start = threading.Barrier(len(tries))
    answers = [True] * len(tries)

    def attempt(n: int) -> None:
        start.wait()
        answers[n] = logins.password(*tries[n], address, "sftp")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(len(tries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def make_logins(policy: LoginPolicy) -> tuple[Logins, SecurityLog]:
    store = MemoryStore()
    for n in range(1, TRIES + 1):
        store.registry.add_customer(Customer(f"C-{n}", f"Customer {n}"))
        store.deliveries.save_account(Account(f"C-{n}", hash_password(f"pass {n}")))
    security = SecurityLog()
    return Logins(store.deliveries, security, policy), security


def test_one_password_of_an_account_from_an_address_is_checked_at_a_time(checks: Checks) -> None:
    logins, security = make_logins(LoginPolicy(max_failures=100, delay_s=0))
    answers = at_once(logins, [("C-1", f"guess {n}") for n in range(TRIES)], "192.0.2.1")
    assert not any(answers)
    assert checks.most == 1
    assert security.counts["login_failed"] == checks.done
    assert checks.done + security.counts.get("login_locked", 0) == TRIES
    # Nothing is left held: the right password gets in afterwards.
    assert logins.password("C-1", "pass 1", "192.0.2.1", "sftp")


def test_a_burst_of_guesses_checks_no_more_than_the_limit_before_the_address_locks(
    checks: Checks,
) -> None:
    logins, security = make_logins(LoginPolicy(max_failures=5, delay_s=0))
    tries = [(f"C-{n + 1}", f"guess {n}") for n in range(TRIES)]  # each its own account
    assert not any(at_once(logins, tries, "192.0.2.2"))
    assert checks.done == 5
    assert security.counts == {"login_failed": 5, "login_locked": TRIES - 5}
    # The address is locked: even a right password is refused from there, unchecked...
    assert not logins.password("C-1", "pass 1", "192.0.2.2", "sftp")
    assert checks.done == 5
    # ...and the customer logs in from its own address.
    assert logins.password("C-1", "pass 1", "192.0.2.3", "sftp")


def test_a_right_password_tried_at_once_over_many_connections_gets_in_at_least_once(
    checks: Checks,
) -> None:
    logins, security = make_logins(LoginPolicy(max_failures=5, delay_s=1))
    answers = at_once(logins, [("C-1", "pass 1")] * TRIES, "192.0.2.4")
    assert any(answers)
    assert "login_failed" not in security.counts  # refused while checked, never failed
    assert logins.password("C-1", "pass 1", "192.0.2.4", "sftp")  # and not locked
