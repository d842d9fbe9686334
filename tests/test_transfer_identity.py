"""The identity provider of AWS Transfer Family: a customer's password gets its own
folder of the files bucket and nothing broader; a wrong one, an unknown user or plain
FTP gets nothing, each counted and reported as kenshin's own file servers do, and the
lockout, kept in the store, holds on every cold start of the function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from conftest import make_site
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Account
from kenshin.domain.model import Customer
from kenshin.entrypoints.aws_lambda import identity
from kenshin.entrypoints.aws_lambda.identity import Home, IdentityProvider
from kenshin.errors import ConfigError
from kenshin.services.accounts import hash_password
from kenshin.services.login_guard import LoginPolicy

ROLE = "arn:aws:iam::111111111111:role/kenshin-staging-customers"
KEY = "arn:aws:kms:ap-northeast-1:111111111111:key/0b7f0e2e-0000-4000-8000-000000000000"
HOME = Home(ROLE, "kenshin-files", "out/", KEY)
PASSWORD = "the customer's pass"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0dXRlc3RrZXl0ZXN0a2V5dGVzdGtleXRlc3Q= c3"
POLICY = LoginPolicy(max_failures=3, window_s=900, lockout_s=900, delay_s=2, max_delay_s=2)
ADDRESS = "203.0.113.7"


def login(
    provider: IdentityProvider,
    user: str,
    password: str | None = PASSWORD,
    *,
    protocol: str = "SFTP",
    address: str = ADDRESS,
) -> dict[str, Any]:
    """Transfer Family's call for one login, as it sends it."""
    event = {"username": user, "protocol": protocol, "serverId": "s-0123", "sourceIp": address}
    return provider({**event, **({} if password is None else {"password": password})})


class Clock:
    """A clock the test moves: a minute on at each reading, past every delay."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 60
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """C-001 and C-002 with passwords, C-003 with an SSH key only."""
    store = SqliteStore(tmp_path / "kenshin.db", create=True)
    for customer in ("C-001", "C-002", "C-003"):
        store.registry.add_customer(Customer(customer, customer))
    for customer in ("C-001", "C-002"):
        store.deliveries.save_account(Account(customer, hash_password(PASSWORD)))
    store.deliveries.save_account(Account("C-003", ssh_keys=(SSH_KEY,)))
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(store: SqliteStore, clock: Clock) -> IdentityProvider:
    return IdentityProvider(store, POLICY, HOME, clock)


def events(store: SqliteStore) -> list[tuple[str, str | None, str, str]]:
    return [(e.kind, e.who, e.address, e.detail) for e in store.alerts.security_events(0)]


def test_the_right_password_gets_the_customers_folder_and_nothing_broader(
    provider: IdentityProvider, store: SqliteStore
) -> None:
    answer = login(provider, "C-001")
    assert answer["Role"] == ROLE
    assert answer["HomeDirectoryType"] == "LOGICAL"
    assert json.loads(answer["HomeDirectoryDetails"]) == [
        {"Entry": "/", "Target": "/kenshin-files/out/C-001"}
    ]
    statements = json.loads(answer["Policy"])["Statement"]
    assert {s["Action"]: s["Resource"] for s in statements} == {
        "s3:ListBucket": "arn:aws:s3:::kenshin-files",
        "s3:GetObject": "arn:aws:s3:::kenshin-files/out/C-001/*",
        "kms:Decrypt": KEY,
    }
    assert all(s["Effect"] == "Allow" for s in statements)
    [listing] = [s["Condition"]["StringLike"]["s3:prefix"] for s in statements if "Condition" in s]
    objects = "arn:aws:s3:::kenshin-files/out/C-001/*"
    for key, own in (
        ("out/C-001/C-001_20261001.csv", True),
        ("out/C-0010/C-0010_20261001.csv", False),  # a customer whose id starts the same
        ("out/C-002/C-002_20261001.csv", False),
        ("out/secret.csv", False),
    ):
        assert any(fnmatchcase(key, p) for p in listing) is own, key
        assert fnmatchcase(f"arn:aws:s3:::kenshin-files/{key}", objects) is own, key
    assert "PublicKeys" not in answer
    assert events(store) == []


def test_a_wrong_password_gets_nothing_and_is_counted_and_reported(
    provider: IdentityProvider, store: SqliteStore
) -> None:
    assert login(provider, "C-001", "not the pass") == {}
    assert [(f.address, f.customer) for f in store.deliveries.login_failures(ADDRESS, 0)] == [
        (ADDRESS, "C-001")
    ]
    assert events(store) == [
        ("login_failed", "C-001", ADDRESS, "sftp: wrong password or no such account")
    ]


def test_after_the_failures_allowed_even_the_right_password_is_refused_on_every_cold_start(
    provider: IdentityProvider, store: SqliteStore, clock: Clock
) -> None:
    for _ in range(POLICY.max_failures):
        assert login(provider, "C-001", "guess") == {}
    assert login(provider, "C-001") == {}
    assert events(store)[-1][:3] == ("login_locked", "C-001", ADDRESS)
    another = IdentityProvider(store, POLICY, HOME, clock)  # the failures are the store's
    assert login(another, "C-002", protocol="FTPS") == {}
    assert events(store)[-1][:3] == ("login_locked", "C-002", ADDRESS)
    assert login(another, "C-001", address="198.51.100.9")["Role"] == ROLE  # another address


def test_an_unknown_user_gets_nothing_and_is_reported(
    provider: IdentityProvider, store: SqliteStore
) -> None:
    assert login(provider, "C-999") == {}
    assert login(provider, "../C-001") == {}
    assert [(kind, who) for kind, who, _, _ in events(store)] == [
        ("login_failed", "C-999"),
        ("login_failed", "'../C-001'"),
    ]
    assert len(store.deliveries.login_failures(ADDRESS, 0)) == 2


def test_plain_ftp_gets_nothing_even_with_the_right_password(
    provider: IdentityProvider, store: SqliteStore
) -> None:
    assert login(provider, "C-001", protocol="FTP") == {}
    assert events(store) == [("login_failed", "C-001", ADDRESS, "ftp: login without TLS")]


def test_a_key_tried_gets_the_accounts_keys_to_check_and_is_not_counted(
    provider: IdentityProvider, store: SqliteStore
) -> None:
    answer = login(provider, "C-003", password=None)
    assert answer["PublicKeys"] == [SSH_KEY]
    assert json.loads(answer["HomeDirectoryDetails"])[0]["Target"] == "/kenshin-files/out/C-003"
    assert login(provider, "C-001", password=None) == {}  # it has no key
    assert login(provider, "C-003", password="") == {}  # an empty password is one
    assert [f.customer for f in store.deliveries.login_failures(ADDRESS, 0)] == ["C-003"]


def test_the_handler_builds_its_pieces_once_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path, "site")
    with closing(SqliteStore(site / "kenshin.db")) as store:
        store.deliveries.save_account(Account("C-001", hash_password(PASSWORD)))
    monkeypatch.setenv("KENSHIN_CONFIG", str(site / "kenshin.toml"))
    monkeypatch.setenv(identity.BUCKET, "kenshin-files")
    monkeypatch.setenv("KENSHIN_AWS_STAGE", "staging")  # the stack's, and no setting
    monkeypatch.setenv("KENSHIN_DELIVERIES__MAX_FAILED_LOGINS", "1")  # a setting
    # As the stack sets it: a folder not there at a cold start (the store elsewhere).
    monkeypatch.setenv("KENSHIN_DATA_DIR", str(tmp_path / "lambda-tmp" / "kenshin"))
    monkeypatch.setenv("KENSHIN_STORE__PATH", str(site / "kenshin.db"))
    with pytest.raises(ConfigError, match=f"{identity.ROLE} is not set"):
        identity.handler({"username": "C-001"}, None)
    monkeypatch.setenv(identity.ROLE, ROLE)
    monkeypatch.setattr(identity, "_built", [])
    try:
        event = {"username": "C-001", "password": PASSWORD, "protocol": "SFTP"}
        first = identity.handler({**event, "sourceIp": ADDRESS}, None)
        assert json.loads(first["HomeDirectoryDetails"])[0]["Target"] == "/kenshin-files/C-001"
        assert identity.handler({**event, "password": "no"}, None) == {}
        assert identity.handler(event, None) == {}  # its address is locked after one failure
        assert len(identity._built) == 1
    finally:
        for built in identity._built:
            built.close()
