"""What every outbox does, whatever it keeps its files in: exact bytes, publishing again
replaces, sorted listings of one customer's files, missing things that are no error,
names that cannot leave the customer's folder and the removal retention relies on.

Each test runs on the local outbox, on the S3 outbox (on moto) and on the S3 outbox
encrypting under a KMS key. What is the local outbox's own (fsync, modes, temporaries
on disk) is in tests/test_outbox.py, the S3 outbox's own in tests/test_s3_outbox.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.s3_outbox import S3Outbox
from kenshin.errors import ExportError
from kenshin.ports import Outbox
from kenshin.services.retention import remove_expired
from moto_s3 import MotoAws, moto_aws
from test_export import ACME, NOON

# Every byte value, CR LF line ends: what a text-mode or re-encoding writer would alter.
CONTENT = bytes(range(256)) * 1000 + b"\r\n"
PREFIX = "outbox/"


@dataclass(frozen=True)
class Storage:
    """An outbox and a look at what it stores, past the outbox."""

    outbox: Outbox
    stored: Callable[[], list[str]]  # every file or object held, as "customer/name", sorted
    raw: Callable[[str], bytes]  # the bytes held at "customer/name"
    untouched: Callable[[], bool]  # nothing was ever written (not even a folder)


def local(root: Path) -> Storage:
    def stored() -> list[str]:
        if not root.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    return Storage(
        LocalOutbox(root),
        stored,
        lambda path: (root / path).read_bytes(),
        lambda: not root.exists(),
    )


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoAws]:
    """S3 and KMS on moto, for the tests of this module."""
    with moto_aws() as aws:
        yield aws


@pytest.fixture(params=["local", "s3", "s3 sse-kms"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each outbox in turn, empty."""
    if request.param == "local":
        return local(tmp_path / "out")
    bucket = request.getfixturevalue("aws").new_bucket()
    key = bucket.kms_key_arn if request.param == "s3 sse-kms" else None
    outbox = S3Outbox(bucket.name, PREFIX, kms_key_id=key, client=bucket.client)
    # A key outside the prefix is shown whole, and fails the test that sees it.
    return Storage(
        outbox,
        lambda: [k.removeprefix(PREFIX) for k in bucket.all_keys()],
        lambda path: bucket.get(PREFIX + path),
        lambda: bucket.all_keys() == [],
    )


def test_published_bytes_are_exact_and_nothing_else_is_stored(storage: Storage) -> None:
    outbox = storage.outbox
    outbox.publish("C1", "C1_20261126.csv", CONTENT)
    outbox.publish("C1", "C1_20261126.csv.manifest.json", b"{}\n")
    assert storage.raw("C1/C1_20261126.csv") == CONTENT
    assert outbox.read("C1", "C1_20261126.csv") == CONTENT
    assert outbox.read("C1", "C1_20261126.csv.manifest.json") == b"{}\n"
    assert outbox.list_files("C1") == ["C1_20261126.csv", "C1_20261126.csv.manifest.json"]
    assert storage.stored() == ["C1/C1_20261126.csv", "C1/C1_20261126.csv.manifest.json"]


def test_an_empty_file_is_a_file(storage: Storage) -> None:
    storage.outbox.publish("C1", "empty.csv", b"")
    assert storage.outbox.read("C1", "empty.csv") == b""
    assert storage.outbox.list_files("C1") == ["empty.csv"]


def test_publishing_again_replaces_the_file(storage: Storage) -> None:
    outbox = storage.outbox
    outbox.publish("C1", "a.csv", b"first, and longer\r\n")
    outbox.publish("C1", "a.csv", b"second\r\n")
    assert outbox.read("C1", "a.csv") == b"second\r\n"
    assert storage.raw("C1/a.csv") == b"second\r\n"
    assert outbox.list_files("C1") == ["a.csv"]
    assert storage.stored() == ["C1/a.csv"]


def test_a_customers_files_are_listed_sorted_and_only_its_own(storage: Storage) -> None:
    outbox = storage.outbox
    names = ["b.csv", "a.csv.manifest.json", "ä.csv", "a.csv", "A.csv", "a-1.csv", "a_1.csv"]
    for name in names:
        outbox.publish("C1", name, name.encode())
    outbox.publish("C10", "c10.csv", b"another customer, whose id C1 begins")
    outbox.publish("C", "c.csv", b"another customer, whose id begins C1's")
    assert outbox.list_files("C1") == sorted(names)  # by code point: A, a-1, a.csv, a_1, b, ä
    assert outbox.list_files("C10") == ["c10.csv"]
    assert outbox.list_files("C") == ["c.csv"]
    assert [outbox.read("C1", n) for n in names] == [n.encode() for n in names]


def test_missing_things_are_not_errors(storage: Storage) -> None:
    outbox = storage.outbox
    assert outbox.read("C1", "a.csv") is None
    assert outbox.list_files("C1") == []
    outbox.remove("C1", "a.csv")
    outbox.publish("C1", "a.csv", b"x")
    assert outbox.read("C1", "b.csv") is None
    outbox.remove("C1", "a.csv")
    assert outbox.read("C1", "a.csv") is None
    assert outbox.list_files("C1") == []
    outbox.remove("C1", "a.csv")
    assert storage.stored() == []


REFUSED = [
    ("C1", "../a.csv"),
    ("C1", ".a.csv"),
    ("C1", "a/b.csv"),
    ("C1", "a\\b.csv"),
    ("C1", "a\x00.csv"),
    ("C1", ""),
    ("..", "a.csv"),
    (".", "a.csv"),
    ("C1/..", "a.csv"),
    ("", "a.csv"),
]


@pytest.mark.parametrize(("customer", "name"), REFUSED)
def test_names_cannot_leave_the_customers_folder(
    storage: Storage, customer: str, name: str
) -> None:
    outbox = storage.outbox
    with pytest.raises(ExportError, match="cannot be a file name"):
        outbox.publish(customer, name, b"x")
    with pytest.raises(ExportError, match="cannot be a file name"):
        outbox.read(customer, name)
    with pytest.raises(ExportError, match="cannot be a file name"):
        outbox.remove(customer, name)
    assert storage.untouched()


@pytest.mark.parametrize("customer", ["..", ".", "", "C1/..", "a/b"])
def test_a_customer_id_cannot_list_another_folder(storage: Storage, customer: str) -> None:
    storage.outbox.publish("C1", "a.csv", b"x")
    with pytest.raises(ExportError, match=r"customer id .* cannot be a file name"):
        storage.outbox.list_files(customer)


def manifest(day: str) -> bytes:
    return json.dumps({"date": day}).encode()


def test_retention_removes_the_expired_days_files_and_keeps_the_rest(storage: Storage) -> None:
    outbox = storage.outbox
    for day in ("2026-10-10", "2026-10-11", "2026-10-12"):  # 45 days before 11-26: the 12th
        name = f"C1_{day.replace('-', '')}.csv"
        outbox.publish("C1", name, b"data of " + day.encode())
        outbox.publish("C1", f"{name}.manifest.json", manifest(day))
    outbox.publish("C1", "C1_20261010.csv.rev2.changes.csv", b"a change record")
    outbox.publish("C1", "C1_20261010.csv.revx.changes.csv", b"not one")
    outbox.publish("C1", "notes.txt", b"no manifest: kept")
    outbox.publish("C1", "broken.manifest.json", b"{")
    outbox.publish("C2", "C1_20261010.csv.manifest.json", manifest("2026-10-10"))
    removed = remove_expired(outbox, ACME, now=NOON, retention_days=45)
    assert sorted(removed) == [
        "C1_20261010.csv",
        "C1_20261010.csv.manifest.json",
        "C1_20261010.csv.rev2.changes.csv",
        "C1_20261011.csv",
        "C1_20261011.csv.manifest.json",
    ]
    assert outbox.list_files("C1") == [
        "C1_20261010.csv.revx.changes.csv",
        "C1_20261012.csv",
        "C1_20261012.csv.manifest.json",
        "broken.manifest.json",
        "notes.txt",
    ]
    assert outbox.read("C1", "C1_20261012.csv") == b"data of 2026-10-12"
    assert outbox.list_files("C2") == ["C1_20261010.csv.manifest.json"]  # not C1's
    assert remove_expired(outbox, ACME, now=NOON, retention_days=45) == []
