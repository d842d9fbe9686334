"""Settings of where kenshin keeps what it knows and what it writes: the store and the
customers' files.

The store is a SQLite file unless ``store.url`` names a PostgreSQL database
(``postgresql://``, a cluster's) or DynamoDB tables (``dynamodb://``, kenshin on AWS).
The outbox is a folder unless ``export.outbox`` names an S3 bucket (``s3://``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kenshin.adapters.dynamo_tables import DynamoUrl
from kenshin.errors import ConfigError

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")
DYNAMODB_SCHEME = "dynamodb://"
S3_SCHEME = "s3://"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreBackend(StrEnum):
    """Where readings and the registry live."""

    SQLITE = "sqlite"
    MEMORY = "memory"


class StoreConfig(_Section):
    """The store: a SQLite file, or the PostgreSQL database or DynamoDB tables ``url``
    names."""

    backend: StoreBackend = Field(StoreBackend.SQLITE, description="sqlite or memory")
    path: str = Field("kenshin.db", description="SQLite file, relative to data_dir")
    url: str = Field(
        "", description="postgresql://... or dynamodb://...: the store in PostgreSQL or DynamoDB"
    )
    readings_retention_days: int = Field(
        0, ge=0, le=36_600, description="days readings are kept where the store drops them; 0: all"
    )

    @field_validator("url")
    @classmethod
    def _store_url(cls, url: str) -> str:
        if url.startswith(DYNAMODB_SCHEME):
            try:
                DynamoUrl.parse(url)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("store.url: ")) from exc
        elif url and not url.startswith(POSTGRESQL_SCHEMES):
            raise ValueError(
                f"{url.split('://')[0]!r} is no store URL: give postgresql://USER@HOST:PORT/DB"
                " (a password goes in ~/.pgpass or PGPASSWORD, not here) or dynamodb://PREFIX,"
                " or leave it empty for the SQLite file"
            )
        return url

    @model_validator(mode="after")
    def _one_backend(self) -> StoreConfig:
        if self.url and self.backend is StoreBackend.MEMORY:
            raise ValueError(
                f'store.url: a {self.kind} store, and store.backend = "memory": choose one'
            )
        return self

    @property
    def kind(self) -> str:
        """``sqlite``, ``memory``, ``postgresql`` or ``dynamodb``."""
        if self.url.startswith(DYNAMODB_SCHEME):
            return "dynamodb"
        return "postgresql" if self.url else str(self.backend)


@dataclass(frozen=True)
class S3Location:
    """Where an S3 outbox keeps the files: a bucket and a key prefix (empty, or ending
    with ``/``)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> S3Location | None:
        """The bucket and prefix of ``s3://BUCKET/PREFIX``; None for anything else (a
        folder); ValueError for an S3 URL that names no bucket or a bad prefix."""
        if not text.startswith(S3_SCHEME):
            return None
        bucket, _, prefix = text[len(S3_SCHEME) :].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ValueError(
                f"{text!r}: give s3://BUCKET or s3://BUCKET/PREFIX, BUCKET an S3 bucket's name"
                " (3 to 63 lowercase letters, digits, dots and hyphens)"
            )
        parts = prefix.removesuffix("/").split("/") if prefix else []
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"{text!r}: the prefix has an empty, '.' or '..' part")
        return cls(bucket, "".join(f"{part}/" for part in parts))

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}"


class ExportConfig(_Section):
    """Customer files."""

    grace_hours: int = Field(6, ge=0, le=24 * 31, description="hours after a day ends until final")
    retention_days: int = Field(45, ge=1, le=3660, description="days a file is kept")
    outbox: str = Field(
        "outbox", description="folder of published files, relative to data_dir; or s3://BUCKET/"
    )
    outbox_kms_key: str = Field("", description="an S3 outbox's KMS key; empty: the bucket's")
    processes: int = Field(
        0, ge=0, le=64, description="processes making files (0: one per core; 1: in the caller's)"
    )

    @field_validator("outbox")
    @classmethod
    def _outbox(cls, outbox: str) -> str:
        S3Location.parse(outbox)
        return outbox

    @model_validator(mode="after")
    def _key_of_a_bucket(self) -> ExportConfig:
        if self.outbox_kms_key and self.s3_outbox is None:
            raise ValueError(
                "export.outbox_kms_key: a KMS key encrypts an S3 outbox's files; export.outbox"
                f" {self.outbox!r} is a folder: give s3://BUCKET/PREFIX or leave the key empty"
            )
        return self

    @property
    def s3_outbox(self) -> S3Location | None:
        """The bucket and prefix of an S3 outbox; None for a folder."""
        return S3Location.parse(self.outbox)
