"""kenshin's Lambda handlers on moto: S3, SQS and SES answer boto3 inside this process (no
server, no socket; in the integration tier all the same: a millisecond a call), a site
whose settings the handlers read from the environment as the stack sets it, and Lambda's
SQS event source played by ``drain``.

``STORES`` are the stores the handlers run on: each the environment that names it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import make_site
from kenshin.entrypoints.aws_lambda import runtime
from moto_s3 import REGION

BUCKET = "kenshin-files"
PREFIX = "staging/"
SENDER = "kenshin@example.org"
# The stores the functions are run on, each by the environment that names it (the SQLite
# file of the site's data folder when it names none: {}). DynamoDB only, as on AWS: the
# handlers are the same on any store, and the suite's time is dear.
STORES: dict[str, dict[str, str]] = {
    "dynamodb": {"KENSHIN_STORE__URL": "dynamodb://kenshin-test-?region=ap-northeast-1"},
}

Handler = Callable[[Mapping[str, Any], object], Any]


def iot_body(device: str, payload: bytes, received_s: int, kind: str = "readings") -> str:
    """A queue message's body as IoT Core's topic rule writes it (docs/aws.md)."""
    return json.dumps(
        {
            "topic": f"dt/kenshin/{device}/{kind}",
            "device": device,
            "payload": base64.b64encode(payload).decode("ascii"),
            "received": received_s * 1000,
        }
    )


@dataclass(frozen=True)
class Aws:
    """The moto clients of the tests: S3 (the files bucket), SQS (the ingest queue), SES,
    KMS; and what IoT Core's data plane took."""

    s3: Any
    sqs: Any
    ses: Any
    kms: Any
    queue_url: str

    def objects(self, prefix: str = PREFIX) -> dict[str, bytes]:
        """Every object under ``prefix`` by its key after the prefix."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", ())]
        return {
            key[len(prefix) :]: self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            for key in keys
        }

    def send(self, bodies: Sequence[str]) -> None:
        """Put the bodies on the queue, in order."""
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + 10])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            assert not answer.get("Failed"), answer

    def drain(self, handler: Handler, batch_size: int = 100) -> list[dict[str, Any]]:
        """Lambda's SQS event source: receive batches, hand each to ``handler`` and delete
        the records it does not report failed, until the queue gives nothing; the failed
        records (they stay on the queue, unseen until ``give_again``)."""
        failed: list[dict[str, Any]] = []
        while records := self._receive(batch_size):
            answer = handler({"Records": records}, None)
            bad = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            assert bad <= {r["messageId"] for r in records}
            failed += [r for r in records if r["messageId"] in bad]
            done = [r for r in records if r["messageId"] not in bad]
            for start in range(0, len(done), 10):
                entries = [
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                    for i, r in enumerate(done[start : start + 10])
                ]
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return failed

    def give_again(self, records: Sequence[dict[str, Any]]) -> None:
        """What the queue does once the records' visibility timeout is over."""
        for record in records:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )

    def _receive(self, most: int) -> list[dict[str, Any]]:
        """Up to ``most`` messages as records of Lambda's SQS event."""
        records: list[dict[str, Any]] = []
        while len(records) < most:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, most - len(records)),
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            records += [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "awsRegion": REGION,
                }
                for m in got
            ]
        return records

    def published(self) -> list[tuple[str, bytes]]:
        """The messages IoT Core's data plane has taken, (topic, payload), oldest first
        (moto's record of them)."""
        from moto.backends import get_backend
        from moto.core.models import DEFAULT_ACCOUNT_ID

        taken: list[tuple[str, bytes]] = get_backend("iot-data")[DEFAULT_ACCOUNT_ID][
            REGION
        ].published_payloads
        return list(taken)

    def mails(self) -> list[Any]:
        """The mails SES has taken, oldest first (moto's record of them)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        sent: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return sent


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """S3, SQS and SES on moto: the files bucket, the ingest queue, the sender verified."""
    boto3 = pytest.importorskip("boto3", reason="the handlers need the 'aws' extra (boto3)")
    moto = pytest.importorskip("moto", reason="the handlers are tested on moto (the 'dev' extra)")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="ingest")
        ses = boto3.client("ses", region_name=REGION)
        ses.verify_email_identity(EmailAddress=SENDER)
        kms = boto3.client("kms", region_name=REGION)
        yield Aws(s3, sqs, ses, kms, queue["QueueUrl"])


@pytest.fixture(params=sorted(STORES))
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment naming the store the functions run on, one of ``STORES``."""
    return STORES[request.param]


@pytest.fixture
def cold() -> Iterator[runtime.ColdStart]:
    """The handlers' cold start, closed after the test (its store is this test's)."""
    yield runtime.cold_start
    runtime.cold_start.reset()


def lambda_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Mapping[str, str], text: str = ""
) -> Path:
    """A site made with the environment the stack gives the functions (``store``'s, the
    S3 outbox), ``text`` added to its settings; the functions read it from there."""
    site = tmp_path / "aws"
    for name, value in {
        **store,
        "KENSHIN_CONFIG": str(site / "kenshin.toml"),
        "KENSHIN_DATA_DIR": str(site),
        "KENSHIN_EXPORT__OUTBOX": f"s3://{BUCKET}/{PREFIX}",
        "KENSHIN_AWS_STAGE": "staging",
    }.items():
        monkeypatch.setenv(name, value)
    make_site(tmp_path, "aws")
    if text:
        with (site / "kenshin.toml").open("a", encoding="utf-8") as config:
            config.write(text)
    return site


def metrics(out: str) -> list[dict[str, object]]:
    """The embedded-metric-format lines of the functions' output."""
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
