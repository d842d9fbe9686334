"""Failed logins and unlock requests kept by every store: what the file servers on one
store count and apply together."""

from __future__ import annotations

from kenshin.domain.accounts import LoginFailure, UnlockRequest
from kenshin.ports import Store


def test_failed_logins_are_read_by_address_and_forgotten_once_too_old(store: Store) -> None:
    book = store.deliveries
    for failure in (
        LoginFailure("192.0.2.1", "C1", 100.25),
        LoginFailure("192.0.2.1", None, 101.5),
        LoginFailure("2001:db8::/64", "C1", 102.0),
        LoginFailure("192.0.2.1", "C2", 103.0),
    ):
        book.add_login_failure(failure, forget_before=0)
    assert book.login_failures("192.0.2.1", since=101.5) == [
        LoginFailure("192.0.2.1", None, 101.5),
        LoginFailure("192.0.2.1", "C2", 103.0),
    ]
    assert book.login_failures("192.0.2.9", since=0) == []
    book.add_login_failure(LoginFailure("192.0.2.9", None, 200.0), forget_before=101.5)
    assert [f.at for f in book.login_failures("192.0.2.1", since=0)] == [101.5, 103.0]
    assert book.login_failures("2001:db8::/64", since=0) == [
        LoginFailure("2001:db8::/64", "C1", 102.0)
    ]


def test_an_unlock_forgets_every_failure_from_the_addresses_of_a_customer(store: Store) -> None:
    book = store.deliveries
    for failure in (
        LoginFailure("192.0.2.1", "C1", 100.0),
        LoginFailure("192.0.2.1", None, 101.0),
        LoginFailure("192.0.2.2", "C2", 102.0),
        LoginFailure("192.0.2.3", "C1", 103.0),
    ):
        book.add_login_failure(failure, forget_before=0)
    assert book.clear_login_failures("C1", None) == [
        LoginFailure("192.0.2.1", "C1", 100.0),
        LoginFailure("192.0.2.1", None, 101.0),
        LoginFailure("192.0.2.3", "C1", 103.0),
    ]
    assert book.clear_login_failures("C1", None) == []
    assert book.clear_login_failures("C1", "192.0.2.2") == [
        LoginFailure("192.0.2.2", "C2", 102.0)  # from the address given: whoever failed
    ]
    assert book.login_failures("192.0.2.2", since=0) == []


def test_an_unlock_applied_by_two_file_servers_keeps_the_first_record(store: Store) -> None:
    book = store.deliveries
    request = book.request_unlock("C1", None, 100)
    book.finish_unlock(request, ["2 failed logins from 192.0.2.1 cleared"], 101)
    book.finish_unlock(request, [], 102)  # the second found nothing left to clear
    assert book.pending_unlocks() == []
    assert book.get_unlock(request) == UnlockRequest(
        request, "C1", None, 100, 101, ("2 failed logins from 192.0.2.1 cleared",)
    )
