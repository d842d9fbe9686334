"""The settings of kenshin on AWS: a DynamoDB store.url, an S3 outbox and its KMS key, each
refused clearly when wrong, and what works on an outbox folder only refusing an S3 one."""

from __future__ import annotations

import asyncio
from contextlib import closing
from pathlib import Path

import pytest

from aws_lambda.conftest import BUCKET, PREFIX, Aws, lambda_site
from conftest import kenshin, make_site
from kenshin.bootstrap import open_app
from kenshin.config import DEFAULT_CONFIG_TEXT, S3Location, Settings, load_settings
from kenshin.entrypoints.file_servers import FileServers
from kenshin.errors import ConfigError
from kenshin.services.security import SecurityLog


def settings_with(tmp_path: Path, environ: dict[str, str]) -> Settings:
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    return load_settings(path, environ)


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [
        ("s3://kenshin-files", "kenshin-files", ""),
        ("s3://kenshin-files/", "kenshin-files", ""),
        ("s3://kenshin-files/staging", "kenshin-files", "staging/"),
        ("s3://kenshin.files/a/b/", "kenshin.files", "a/b/"),
    ],
)
def test_an_s3_outbox_is_a_bucket_and_a_prefix(text: str, bucket: str, prefix: str) -> None:
    assert S3Location.parse(text) == S3Location(bucket, prefix)
    assert S3Location.parse("outbox") is None


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"KENSHIN_EXPORT__OUTBOX": "s3://Kenshin_Files/"}, "give s3://BUCKET or s3://BUCKET/"),
        ({"KENSHIN_EXPORT__OUTBOX": "s3://kenshin-files/a//b"}, "an empty, '.' or '..' part"),
        ({"KENSHIN_EXPORT__OUTBOX": "s3://kenshin-files/../b"}, "an empty, '.' or '..' part"),
        (
            {"KENSHIN_EXPORT__OUTBOX_KMS_KEY": "alias/kenshin"},
            "export.outbox_kms_key: a KMS key encrypts an S3 outbox's files",
        ),
        (
            {"KENSHIN_STORE__URL": "dynamodb://"},
            "store.url (KENSHIN_STORE__URL): Value error, 'dynamodb://' is no DynamoDB store",
        ),
        ({"KENSHIN_STORE__URL": "dynamodb://k-?zone=x"}, "is no DynamoDB store: give dynamodb"),
        (
            {"KENSHIN_STORE__URL": "dynamodb://k-", "KENSHIN_STORE__BACKEND": "memory"},
            'store.url: a dynamodb store, and store.backend = "memory": choose one',
        ),
    ],
)
def test_a_wrong_aws_setting_is_refused_naming_it(
    tmp_path: Path, environ: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        settings_with(tmp_path, environ)
    assert said in str(refused.value)


def test_a_dynamodb_store_and_an_s3_outbox_are_taken(tmp_path: Path) -> None:
    environ = {
        "KENSHIN_STORE__URL": "dynamodb://kenshin-staging-?region=ap-northeast-1",
        "KENSHIN_EXPORT__OUTBOX": "s3://kenshin-files/staging/",
        "KENSHIN_EXPORT__OUTBOX_KMS_KEY": "alias/kenshin",
        # The functions' own variables, which are no settings.
        "KENSHIN_AWS_STAGE": "staging",
        "KENSHIN_AWS_FILES_BUCKET": "kenshin-files",
    }
    settings = settings_with(tmp_path, environ)
    assert settings.store.url.startswith("dynamodb://")
    with pytest.raises(ConfigError, match="stage: unknown setting"):
        settings_with(
            tmp_path, {"KENSHIN_STAGE": "staging"}
        )  # not of the AWS build: a setting, and no such one


def test_the_outbox_s_files_go_to_the_bucket_under_the_kms_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: Aws
) -> None:
    key = aws.kms.create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("KENSHIN_EXPORT__OUTBOX_KMS_KEY", key)
    site = lambda_site(tmp_path, monkeypatch, {})
    with closing(open_app(site / "kenshin.toml")) as app:
        app.outbox.publish("C-001", "a.csv", b"x")
        assert app.outbox_location("C-001", "a.csv") == f"s3://{BUCKET}/{PREFIX}C-001/a.csv"
    head = aws.s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}C-001/a.csv")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
    assert not (site / "outbox").exists()  # kenshin init made no folder for it


def test_what_needs_an_outbox_folder_refuses_an_s3_outbox_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: Aws
) -> None:
    site = lambda_site(tmp_path, monkeypatch, {})
    backup = kenshin(site, "backup", str(tmp_path / "copy"))
    assert backup.exit_code == 2
    assert "kenshin backup copies the outbox folder, and export.outbox is an S3 bucket" in (
        backup.output
    )
    files = kenshin(site, "files")
    assert files.exit_code == 1
    assert f"export.outbox: the files are in S3 (s3://{BUCKET}/{PREFIX})" in files.output
    with closing(open_app(site / "kenshin.toml")) as app, pytest.raises(ConfigError) as refused:
        asyncio.run(FileServers(app, SecurityLog()).start())
    assert "ftps.enabled, sftp.enabled: the FTPS and SFTP servers serve the outbox folder" in (
        str(refused.value)
    )


def test_a_dynamodb_store_has_no_schema_to_upgrade_and_runs_no_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: Aws
) -> None:
    site = make_site(tmp_path, "site")
    monkeypatch.setenv("KENSHIN_STORE__URL", "dynamodb://kenshin-?region=ap-northeast-1")
    upgrade = kenshin(site, "db", "upgrade")
    assert upgrade.exit_code == 1
    assert "a DynamoDB store has no schema to upgrade: its two tables are made" in upgrade.output
    worker = kenshin(site, "worker", "--name", "w1")
    assert worker.exit_code == 1
    assert "store.url: the processes of a cluster share one PostgreSQL store" in worker.output
