"""Operators' accounts, their sessions, API tokens and the audit log on every store: what
the console's sign-in and the admin API rely on."""

from __future__ import annotations

import threading
from dataclasses import replace

from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession, Role
from kenshin.ports import Store

NOW = 1_795_752_000
ADA = Operator("ada", Role.ADMIN, "$argon2id$v=19$m=65536,t=3,p=4$a$b", NOW)
BOB = Operator("bob", Role.VIEWER, "$argon2id$v=19$m=65536,t=3,p=4$c$d", NOW + 1)
SECRET = bytes(range(20))


def session(id_hash: str, operator: str = "ada") -> OperatorSession:
    return OperatorSession(id_hash, operator, Role.ADMIN, NOW, NOW + 3600, f"csrf-{id_hash}")


def entry(at: int, action: str = "devices.revoke") -> AuditEntry:
    return AuditEntry(at, "ada", "admin", action, "device", "U-1", '{"revoked": false}', "", "cli")


def test_operators_are_saved_replaced_listed_by_name_and_removed_with_their_sessions(
    store: Store,
) -> None:
    ops = store.operators
    assert ops.get_operator("ada") is None
    ops.save_operator(BOB)
    ops.save_operator(ADA)
    assert ops.list_operators() == [ADA, BOB]
    enrolled = replace(ADA, totp_secret=SECRET, totp_enrolled=True, failures=2, locked_until=NOW)
    ops.save_operator(enrolled)
    assert ops.get_operator("ada") == enrolled
    ops.save_session(session("s1"))
    ops.save_session(session("s2"))
    ops.save_session(session("s3", "bob"))
    assert ops.remove_operator("ada")
    assert not ops.remove_operator("ada")
    assert ops.list_operators() == [BOB]
    assert ops.get_session("s1") is None
    assert ops.get_session("s2") is None
    assert ops.get_session("s3") == session("s3", "bob")


def test_a_totp_step_is_accepted_once_and_only_after_the_last_accepted(store: Store) -> None:
    ops = store.operators
    ops.save_operator(ADA)
    assert ops.accept_totp_step("ada", 100)
    assert not ops.accept_totp_step("ada", 100)  # the same code again
    assert not ops.accept_totp_step("ada", 99)
    assert ops.accept_totp_step("ada", 101)
    assert ops.get_operator("ada") == replace(ADA, last_totp_step=101)
    assert not ops.accept_totp_step("nobody", 1)


def test_of_two_sign_ins_racing_with_the_same_code_exactly_one_is_accepted(store: Store) -> None:
    ops = store.operators
    ops.save_operator(ADA)
    for step in (200, 201, 202):
        start = threading.Barrier(2)
        accepted: list[bool] = []

        racers = [
            threading.Thread(target=_sign_in, args=(store, step, start, accepted)) for _ in "ab"
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=10)
        assert sorted(accepted) == [False, True]
    assert ops.get_operator("ada") == replace(ADA, last_totp_step=202)


def _sign_in(store: Store, step: int, start: threading.Barrier, accepted: list[bool]) -> None:
    start.wait()
    accepted.append(store.operators.accept_totp_step("ada", step))


def test_sessions_are_found_by_digest_replaced_and_removed_one_or_by_operator(
    store: Store,
) -> None:
    ops = store.operators
    ops.save_session(session("s1"))
    ops.save_session(session("s2"))
    ops.save_session(session("s3", "bob"))
    confirmed = replace(session("s1"), enrolling=True, address="192.0.2.7")
    ops.save_session(confirmed)
    assert ops.get_session("s1") == confirmed
    assert ops.get_session("nope") is None
    assert ops.remove_sessions(id_hash="s1") == 1
    assert ops.remove_sessions(id_hash="s1") == 0
    assert ops.remove_sessions(operator="ada") == 1
    assert ops.get_session("s2") is None
    assert ops.get_session("s3") == session("s3", "bob")


def test_api_tokens_are_found_by_digest_listed_by_when_made_and_removed(store: Store) -> None:
    ops = store.operators
    later = ApiToken("t2", "nightly", Role.VIEWER, "h" * 64, "ada", NOW + 5, NOW + 86_400)
    first = ApiToken("t1", "deploy", Role.OPERATOR, "a" * 64, "ada", NOW, NOW + 86_400)
    ops.save_token(later)
    ops.save_token(first)
    assert ops.get_token("a" * 64) == first
    assert ops.get_token("b" * 64) is None
    assert ops.list_tokens() == [first, later]
    assert ops.remove_token("t1")
    assert not ops.remove_token("t1")
    assert ops.get_token("a" * 64) is None
    assert ops.list_tokens() == [later]


def test_the_audit_log_keeps_entries_in_order_and_gives_the_newest_oldest_first(
    store: Store,
) -> None:
    log = store.audit
    assert log.entries() == []
    made = [entry(NOW + 10 * i, f"action.{i}") for i in range(5)]
    seqs = [log.append(e) for e in made]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    kept = [replace(e, seq=s) for e, s in zip(made, seqs, strict=True)]
    assert log.entries() == kept
    assert log.entries(since=NOW + 20) == kept[2:]
    assert log.entries(limit=2) == kept[3:]
    assert log.entries(since=NOW + 10, limit=3) == kept[2:]
    assert log.entries(since=NOW + 41) == []
    assert log.entries(limit=0) == []


def test_the_audit_log_pages_back_by_seq(store: Store) -> None:
    log = store.audit
    made = [entry(NOW + 10 * i, f"action.{i}") for i in range(5)]
    kept = [replace(e, seq=log.append(e)) for e in made]
    assert log.entries(before=kept[3].seq) == kept[:3]
    assert log.entries(limit=2, before=kept[3].seq) == kept[1:3]
    assert log.entries(limit=2, before=kept[1].seq) == kept[:1]
    assert log.entries(before=kept[0].seq) == []
    assert log.entries(since=NOW + 10, before=kept[4].seq) == kept[1:4]
    assert log.entries(before=kept[4].seq + 1) == kept
    assert log.entries(before=2**63) == kept
    assert log.entries(before=-1) == []


def test_failures_counted_at_once_lock_the_account_at_exactly_the_fifth(store: Store) -> None:
    ops = store.operators
    ops.save_operator(ADA)
    ops.save_operator(BOB)
    _fail_at_once(store, "ada", 5)
    _fail_at_once(store, "bob", 4)
    assert ops.get_operator("ada") == replace(ADA, failures=0, locked_until=NOW + 900)
    assert ops.get_operator("bob") == replace(BOB, failures=4)
    assert ops.count_failure("bob", NOW, 5, 900) == replace(BOB, locked_until=NOW + 900)
    assert ops.count_failure("nobody", NOW, 5, 900) is None
    ops.clear_failures("ada")
    assert ops.get_operator("ada") == ADA
    assert ops.count_failure("ada", NOW, 5, 900) == replace(ADA, failures=1)
    ops.clear_failures("nobody")
    assert ops.get_operator("nobody") is None


def _fail_at_once(store: Store, name: str, threads: int) -> None:
    start = threading.Barrier(threads)

    def fail() -> None:
        start.wait()
        store.operators.count_failure(name, NOW, 5, 900)

    guessers = [threading.Thread(target=fail) for _ in range(threads)]
    for guesser in guessers:
        guesser.start()
    for guesser in guessers:
        guesser.join(timeout=10)


def test_a_session_is_kept_alive_only_while_it_exists_and_the_expired_are_pruned(
    store: Store,
) -> None:
    ops = store.operators
    ops.save_session(session("s1"))
    ops.save_session(session("s2", "bob"))
    ops.save_session(replace(session("s3"), expires_at=NOW + 60))
    assert ops.touch_session("s1", NOW + 7200)
    assert ops.get_session("s1") == replace(session("s1"), expires_at=NOW + 7200)
    assert not ops.touch_session("gone", NOW + 7200)
    assert ops.get_session("gone") is None
    assert ops.remove_sessions(expired_before=NOW + 60) == 0  # s3 ends at NOW + 60
    assert ops.remove_sessions(expired_before=NOW + 3601) == 2  # s3, and s2 at NOW + 3600
    assert ops.get_session("s1") is not None
    assert ops.get_session("s2") is None
    assert ops.get_session("s3") is None
