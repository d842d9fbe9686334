"""An S3 bucket and a KMS key on moto, for the tests of the S3 outbox; DynamoDB on moto,
for those of the DynamoDB store.

moto answers boto3's calls inside this process (it stands in for botocore's HTTP
sending): no server is started and no socket opened, so these tests are in the unit
tier. They are skipped where boto3 or moto is not installed (the extras 'aws' and 'dev').
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import pytest

# urllib3 (under botocore) binds a socket when first imported, to see whether IPv6 works:
# imported here, as the test modules are collected, so that the unit tier's guard never
# sees it in whichever test makes the first client.
with suppress(ImportError):
    import boto3  # type: ignore[import-untyped]  # noqa: F401
    import moto  # noqa: F401

REGION = "ap-northeast-1"


@dataclass(frozen=True)
class MotoBucket:
    """An empty bucket on moto, the S3 client that reaches it and a KMS key's ARN."""

    client: Any  # a boto3 S3 client (boto3 has no type hints)
    name: str
    kms_key_arn: str

    def all_keys(self) -> list[str]:
        """Every key in the bucket, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def get(self, key: str) -> bytes:
        """The object's bytes, read straight from S3."""
        content: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return content


@dataclass
class MotoAws:
    """S3 and KMS on moto: new empty buckets, and one KMS key for them all. Making a
    client takes a tenth of a second or more: tests share this one's."""

    client: Any
    kms_key_arn: str
    made: int = 0

    def new_bucket(self) -> MotoBucket:
        """A bucket of its own, empty."""
        self.made += 1
        name = f"kenshin-files-{self.made}"
        self.client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        return MotoBucket(self.client, name, self.kms_key_arn)


@contextmanager
def moto_dynamodb(prefix: str | None = None) -> Iterator[Any]:
    """A DynamoDB client on moto for as long as the context lasts, with the store's tables
    of ``prefix`` made (none if None); skips where boto3 or moto is not installed."""
    boto3 = pytest.importorskip("boto3", reason="the DynamoDB store needs the 'aws' extra")
    moto = pytest.importorskip("moto", reason="the DynamoDB store is tested on moto ('dev')")
    with moto.mock_aws():
        client = _one_call_at_a_time(boto3.client("dynamodb", region_name=REGION))
        if prefix is not None:
            from kenshin.adapters.dynamo_tables import DynamoTables

            DynamoTables.open(f"dynamodb://{prefix}", client).create()
        yield client


def _one_call_at_a_time(client: Any) -> Any:
    """``client``, its calls made one at a time: DynamoDB applies each request (a
    conditional write, a transaction) atomically, and moto's backend does not when
    threads call it at once (two conditional puts could both see no item)."""
    atomic = threading.Lock()
    call = client._make_api_call

    def one_at_a_time(operation: str, params: dict[str, Any]) -> Any:
        with atomic:
            return call(operation, params)

    client._make_api_call = one_at_a_time
    return client


@contextmanager
def moto_aws() -> Iterator[MotoAws]:
    """S3 and KMS on moto for as long as the context lasts; skips where boto3 or moto is
    not installed."""
    boto3 = pytest.importorskip("boto3", reason="the S3 outbox needs the 'aws' extra (boto3)")
    moto = pytest.importorskip("moto", reason="the S3 outbox is tested on moto (the 'dev' extra)")
    with moto.mock_aws():  # fake credentials too: nothing reaches AWS
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]
        yield MotoAws(boto3.client("s3", region_name=REGION), key["Arn"])
