"""The S3 outbox's own: where its objects go, their encryption under a KMS key, errors that
name the bucket and key, what its listing leaves out, and a day's export that is byte for
byte the local outbox's. What every outbox does is in tests/contract/test_outbox_contract.py.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import kenshin.adapters
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.s3_outbox import S3Outbox
from kenshin.domain.model import Reading
from kenshin.errors import ConfigError, ExportError
from kenshin.services.export import export_day
from moto_s3 import MotoAws, MotoBucket, moto_aws
from test_export import ACME, DAY, FINAL_AT, NAME, SLOTS, filled_store


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoAws]:
    """S3 and KMS on moto, for the tests of this module."""
    with moto_aws() as aws:
        yield aws


@pytest.fixture
def bucket(aws: MotoAws) -> MotoBucket:
    return aws.new_bucket()


def test_a_file_is_one_object_under_the_prefix_and_the_customer(bucket: MotoBucket) -> None:
    S3Outbox(bucket.name, "sites/tokyo/", client=bucket.client).publish("C1", "a.csv", b"x")
    S3Outbox(bucket.name, client=bucket.client).publish("C1", "b.csv", b"y")
    assert bucket.all_keys() == ["C1/b.csv", "sites/tokyo/C1/a.csv"]
    assert S3Outbox(bucket.name, client=bucket.client).list_files("C1") == ["b.csv"]


def test_a_prefix_is_empty_or_ends_with_a_slash(bucket: MotoBucket) -> None:
    with pytest.raises(ConfigError, match=r"prefix 'outbox' must be empty or end with '/'"):
        S3Outbox(bucket.name, "outbox", client=bucket.client)


def test_with_a_kms_key_every_object_is_encrypted_under_it(bucket: MotoBucket) -> None:
    outbox = S3Outbox(bucket.name, "out/", kms_key_id=bucket.kms_key_arn, client=bucket.client)
    outbox.publish("C1", "a.csv", b"x")
    outbox.publish("C1", "a.csv", b"again")
    outbox.publish("C1", "a.csv.manifest.json", b"{}\n")
    for key in bucket.all_keys():
        head = bucket.client.head_object(Bucket=bucket.name, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == (
            "aws:kms",
            bucket.kms_key_arn,
        ), key
    assert outbox.read("C1", "a.csv") == b"again"


def test_without_a_key_the_buckets_own_encryption_applies(bucket: MotoBucket) -> None:
    S3Outbox(bucket.name, client=bucket.client).publish("C1", "a.csv", b"x")
    head = bucket.client.head_object(Bucket=bucket.name, Key="C1/a.csv")
    assert head.get("ServerSideEncryption") != "aws:kms"
    assert "SSEKMSKeyId" not in head


def test_the_listing_leaves_out_deeper_keys_dot_names_and_folder_markers(
    bucket: MotoBucket,
) -> None:
    for key in ["C1/", "C1/a.csv", "C1/.a.csv.x.tmp", "C1/old/b.csv", "C1/old/", "C10/c.csv"]:
        bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"x")
    assert S3Outbox(bucket.name, client=bucket.client).list_files("C1") == ["a.csv"]


class SmallPages:
    """An S3 client that lists two keys a page, as S3 lists a thousand."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pages = 0

    def list_objects_v2(self, **kwargs: object) -> Mapping[str, Any]:
        self.pages += 1
        page: Mapping[str, Any] = self._client.list_objects_v2(MaxKeys=2, **kwargs)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_listing_of_many_pages_is_whole(bucket: MotoBucket) -> None:
    client = SmallPages(bucket.client)
    outbox = S3Outbox(bucket.name, client=client)
    names = [f"C1_202611{day:02}.csv" for day in range(1, 8)]
    for name in reversed(names):
        outbox.publish("C1", name, b"x")
    assert outbox.list_files("C1") == names
    assert client.pages == 4


def test_errors_name_what_failed_the_bucket_and_the_key(aws: MotoAws) -> None:
    outbox = S3Outbox("no-such-bucket", "out/", client=aws.client)
    failing: dict[str, Callable[[], object]] = {
        "publish": lambda: outbox.publish("C1", "a.csv", b"x"),
        "read": lambda: outbox.read("C1", "a.csv"),
        "remove": lambda: outbox.remove("C1", "a.csv"),
    }
    for what, call in failing.items():
        with pytest.raises(ExportError) as failed:
            call()
        assert str(failed.value).startswith(
            f"could not {what} C1/a.csv (s3://no-such-bucket/out/C1/a.csv): "
        )
        assert "NoSuchBucket" in str(failed.value)
    with pytest.raises(ExportError, match=r"list the files of C1 in s3://no-such-bucket/out/C1/"):
        outbox.list_files("C1")


def test_kenshin_imports_without_boto3_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in ("boto3", "botocore")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "boto3", None)  # None: "import boto3" fails
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.delitem(sys.modules, "kenshin.adapters.s3_outbox")
    monkeypatch.delattr(kenshin.adapters, "s3_outbox")  # put back after, as sys.modules
    module = importlib.import_module("kenshin.adapters.s3_outbox")
    with pytest.raises(ConfigError, match=r"needs boto3.*pip install 'kenshin\[aws\]'"):
        module.S3Outbox("kenshin-files")


def exported(outbox: LocalOutbox | S3Outbox) -> None:
    """A final day restated: revision 1, then revision 2 and its change record."""
    store = filled_store()
    try:
        export_day(store, outbox, ACME, DAY, now=FINAL_AT)
        late = [Reading("M-2", SLOTS.end, 5_000 + 48 * 12, None)]
        store.readings.add_readings(late, FINAL_AT + 60)
        assert export_day(store, outbox, ACME, DAY, now=FINAL_AT + 3600).revision == 2
    finally:
        store.close()


def test_a_days_export_is_byte_for_byte_the_local_outboxs(
    tmp_path: Path, bucket: MotoBucket
) -> None:
    exported(LocalOutbox(tmp_path))
    exported(S3Outbox(bucket.name, "outbox/", client=bucket.client))
    local = {p.name: p.read_bytes() for p in sorted((tmp_path / "C1").iterdir())}
    assert sorted(local) == [NAME, NAME + ".manifest.json", NAME + ".rev2.changes.csv"]
    assert bucket.all_keys() == [f"outbox/C1/{name}" for name in local]
    for name, content in local.items():
        assert bucket.get(f"outbox/C1/{name}") == content, name
