"""The stores the contract tests run against; adding a backend is one line in ADAPTERS."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import settings

from conftest import postgres_url
from kenshin.adapters.composed import ComposedStore
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.adapters.sqlite_schema import MIGRATIONS, statements
from kenshin.ports import Store
from moto_s3 import moto_dynamodb


def composed(folder: Path) -> Store:
    """Memory readings, dead letters and revisions beside an SQLite registry and the rest:
    the ports compose whatever backend each comes from."""
    sqlite, memory = SqliteStore(folder / "kenshin.db"), MemoryStore()
    return ComposedStore(
        registry=sqlite.registry,
        certificates=sqlite.certificates,
        commands=sqlite.commands,
        readings=memory.readings,
        dead_letters=memory.dead_letters,
        revisions=memory.revisions,
        deliveries=sqlite.deliveries,
        alerts=sqlite.alerts,
        unit_clocks=sqlite.unit_clocks,
        operators=sqlite.operators,
        audit=sqlite.audit,
        alert_history=sqlite.alert_history,
        checks=(sqlite.check_writable,),
        closers=(sqlite.close, memory.close),
    )


def postgres(folder: Path) -> Store:
    """An empty store in the run's database. Making a schema takes about 90 ms, emptying
    one a fraction of that: the n-th store a test opens reuses the n-th schema of this
    process, emptied (the property tests open one for each of their examples)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"contract_{worker}_{folder.name.replace('-', '_')}"
    url = postgres_url(folder, schema=schema)
    if schema in _emptied:
        with psycopg.connect(url.split("?")[0], autocommit=True) as db:
            db.execute(_emptied[schema])
        return PostgresStore(url)
    store = PostgresStore(url, create=True)
    with psycopg.connect(url.split("?")[0]) as db:
        tables = db.execute(
            "SELECT quote_ident(table_name) FROM information_schema.tables"
            " WHERE table_schema = %s AND table_name <> 'kenshin_schema'",
            (schema,),
        ).fetchall()
        sequences = db.execute(
            "SELECT quote_ident(sequence_name) FROM information_schema.sequences"
            " WHERE sequence_schema = %s",
            (schema,),
        ).fetchall()
    # DELETE and setval, not TRUNCATE: TRUNCATE makes new files, 80 ms for the lot. The
    # replica role skips the foreign keys' triggers: every table is emptied anyway.
    deletes = [f"DELETE FROM {schema}.{name}" for (name,) in tables]
    restarts = [f"SELECT setval('{schema}.{name}', 1, false)" for (name,) in sequences]
    replica = ["SET session_replication_role = replica"]
    _emptied[schema] = "; ".join(replica + deletes + restarts)
    return store


_emptied: dict[str, str] = {}  # schema -> the statement that empties it


def dynamodb(folder: Path) -> Store:
    """Empty tables of their own on moto (the test's mock: see ``new_store``), named
    after the folder."""
    from kenshin.adapters.dynamo import DynamoStore

    return DynamoStore(f"dynamodb://{folder.name}-", client=_dynamo_client[0], create=True)


_dynamo_client: list[Any] = []  # the boto3 client of the test's mock, while it runs


# name -> how to open an empty store whose files (if any) go in the given folder
ADAPTERS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda folder: MemoryStore(),
    "sqlite": lambda folder: SqliteStore(folder / "kenshin.db"),
    "composed": composed,
    "postgres": postgres,
    "dynamodb": dynamodb,
}
# Stores on a server (they use sockets), and DynamoDB on moto (in this process, but a
# database answering through boto3 at a millisecond a call): in the integration tier.
SERVED = {"postgres", "dynamodb"}


StoreFactory = Callable[[], Store]


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.integration) if name in SERVED else name
        for name in sorted(ADAPTERS)
    ]
)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens fresh, empty stores of one backend; every one is closed after the test."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_database")
    opened: list[Store] = []
    context = ExitStack()
    if request.param == "dynamodb":
        context.enter_context(_dynamo_mock())

    def open_store() -> Store:
        folder = tmp_path / f"store-{len(opened)}"
        folder.mkdir()
        store = ADAPTERS[request.param](folder)
        opened.append(store)
        return store

    with context:
        yield open_store
        for store in opened:
            store.close()


@contextmanager
def _dynamo_mock() -> Iterator[None]:
    """DynamoDB on moto for one test, and the client that reaches it; skips where boto3
    or moto is not installed (the extras 'aws' and 'dev')."""
    with moto_dynamodb() as client:
        _dynamo_client.append(client)
        try:
            yield
        finally:
            _dynamo_client.clear()


# The property tests (hypothesis) open a store per example; on moto an example of
# DynamoDB takes ten times one of SQLite: there they run this fraction of their examples.
MOTO_EXAMPLES = 1 / 3


@pytest.fixture(autouse=True)
def _fewer_examples_on_moto(request: pytest.FixtureRequest) -> Iterator[None]:
    """A property test of the DynamoDB store runs ``MOTO_EXAMPLES`` of its examples: its
    settings, which hypothesis reads when the test is called, for the test's duration."""
    test = request.function
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("new_store") != "dynamodb":
        yield
        return
    if not getattr(test, "is_hypothesis_test", False):
        yield
        return
    given: settings = test._hypothesis_internal_use_settings
    fewer = max(1, round(given.max_examples * MOTO_EXAMPLES))
    test._hypothesis_internal_use_settings = settings(given, max_examples=fewer)
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = given


@pytest.fixture
def store(new_store: StoreFactory) -> Store:
    """An empty store of each backend in turn."""
    return new_store()


def database_before(path: Path, table: str) -> None:
    """A SQLite database at the schema just before the migration that creates ``table``,
    holding customer C1 and its device U-1."""
    cut = next(n for n, script in enumerate(MIGRATIONS) if f"CREATE TABLE {table} (" in script)
    with closing(sqlite3.connect(path)) as old, old:
        for script in MIGRATIONS[:cut]:
            for statement in statements(script):
                old.execute(statement)
        old.execute(
            "INSERT INTO customers VALUES ('C1', 'First', 'UTC', 'utf-8', 'wide', 'en',"
            " 3, '{customer}.csv')"
        )
        old.execute("INSERT INTO devices VALUES ('U-1', 'C1')")
        old.execute(f"PRAGMA user_version = {cut}")
