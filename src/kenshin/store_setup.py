"""Opening the store and the outbox the settings name. Part of bootstrap: the one place
that reads settings and picks adapters.

The PostgreSQL store needs the extra ``postgres`` (psycopg), the DynamoDB store and the
S3 outbox the extra ``aws`` (boto3): their adapters are imported only where the
settings name them.
"""

from __future__ import annotations

import importlib
from contextlib import closing
from pathlib import Path
from types import ModuleType

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.pki import PKI_FOLDER
from kenshin.adapters.s3_outbox import S3Outbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.config import Settings, StoreBackend, load_settings
from kenshin.errors import ConfigError
from kenshin.ports import Outbox, Store


def open_store(settings: Settings, data_dir: Path, *, create: bool) -> Store:
    """The store of ``store``: made where it is missing only with ``create``."""
    kind = settings.store.kind
    if kind == StoreBackend.MEMORY:
        return MemoryStore()
    if kind == "dynamodb":
        dynamo: Store = _optional("dynamo", "DynamoDB", "aws").DynamoStore(
            settings.store.url, create=create
        )
        return dynamo
    if kind == "postgresql":
        postgres: Store = postgres_adapter().PostgresStore(settings.store.url, create=create)
        return postgres
    return SqliteStore(data_dir / settings.store.path, create=create)


def open_outbox(settings: Settings, data_dir: Path) -> Outbox:
    """The outbox of ``export.outbox``: a folder in (or beside) the data folder, or an S3
    bucket's prefix, its files encrypted with ``export.outbox_kms_key`` if one is given."""
    export = settings.export
    where = export.s3_outbox
    if where is None:
        _check_apart(settings, data_dir)
        return LocalOutbox(data_dir / export.outbox)
    return S3Outbox(where.bucket, where.prefix, kms_key_id=export.outbox_kms_key or None)


def _check_apart(settings: Settings, data_dir: Path) -> None:
    """ConfigError if the outbox folder is, or holds, the data folder or a secret: each of
    its folders is a customer's, served to it, and a customer named like one of them
    (``pki``) would collect the units' certificate authority."""
    outbox = (data_dir / settings.export.outbox).resolve()
    secrets = {
        "the data folder": data_dir,
        "the units' certificate authority": data_dir / PKI_FOLDER,
        "the database": data_dir / settings.store.path,
        "sftp.host_key": data_dir / settings.sftp.host_key,
        "ftps.key": data_dir / settings.ftps.key if settings.ftps.key else data_dir,
    }
    for what, path in secrets.items():
        path = path.resolve()
        if path == outbox or outbox in path.parents:
            raise ConfigError(
                f"export.outbox: {settings.export.outbox!r} ({outbox}) holds {what} ({path}),"
                " which customers could then collect: give the outbox a folder of its own,"
                " such as 'outbox' (the default)"
            )


def postgres_adapter() -> ModuleType:
    """The PostgreSQL adapter; ConfigError naming the extra if psycopg is not installed."""
    return _optional("postgres", "PostgreSQL", "postgres")


def _optional(module: str, name: str, extra: str) -> ModuleType:
    """The adapter ``kenshin.adapters.<module>``, imported only where a store.url asks
    for it; ConfigError naming the extra to install if its library is missing."""
    try:
        return importlib.import_module(f"kenshin.adapters.{module}")
    except ImportError as exc:
        raise ConfigError(
            f"store.url names a {name} store, but {exc.name} is not installed:"
            f" pip install 'kenshin[{extra}]'"
        ) from exc


def upgrade_store(config_path: Path) -> tuple[str, int, int]:
    """Create or upgrade the store's schema to this kenshin's: where the store is, and
    the version it was at and is at now. StoreError for a store newer than this kenshin;
    ConfigError for a DynamoDB store, whose tables have no schema to upgrade."""
    settings = load_settings(config_path)
    kind = settings.store.kind
    if kind == "dynamodb":
        raise ConfigError(
            "store.url: a DynamoDB store has no schema to upgrade: its two tables are made"
            " by the AWS stack (docs/aws.md), or by kenshin init where they are missing"
        )
    if kind == "postgresql":
        postgres = postgres_adapter()
        with closing(postgres.PostgresStore(settings.store.url, upgrade=True)) as store:
            return postgres.shown_url(settings.store.url), store.upgraded_from, store.version
    data_dir = (config_path.parent / settings.data_dir).resolve()
    path = data_dir / settings.store.path
    with closing(SqliteStore(path, create=True)) as sqlite_store:
        return str(path), sqlite_store.upgraded_from, sqlite_store.version
