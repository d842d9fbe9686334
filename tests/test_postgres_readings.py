"""The PostgreSQL store's readings in months: retention drops whole months, never one
holding a reading newer than the cutoff, and says exactly how many readings went; the
scheduled export run drops them when a retention is set."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import postgres_url
from kenshin.adapters import postgres_partitions
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.postgres import PostgresStore
from kenshin.domain.model import Device, Reading
from kenshin.errors import StoreError
from kenshin.services.export import ExportSettings
from kenshin.services.schedule import ExportRequest, export_due
from test_export import ACME, SLOTS, boundary_readings, make_store

pytestmark = pytest.mark.integration


def utc(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


OCT, NOV, DEC = utc(2026, 10, 10), utc(2026, 11, 15), utc(2026, 12, 20)
LAST_OF_OCT, LAST_OF_NOV, FIRST_OF_DEC = (
    utc(2026, 10, 31, 23, 30),
    utc(2026, 11, 30, 23, 30),
    utc(2026, 12),
)
LONG_AGO, FAR_AHEAD = utc(1990, 1), utc(2150, 1)  # outside the months: the default partition


@pytest.fixture
def store(tmp_path: Path, postgres_database: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url(tmp_path), create=True)
    yield opened
    opened.close()


def partitions(store: PostgresStore, database: str) -> list[str]:
    """The partitions of the store's readings table, by name."""
    with psycopg.connect(database) as db:
        rows = db.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY 1",
            (f"{store.schema}.readings",),
        ).fetchall()
    return [name for (name,) in rows]


def everything(store: PostgresStore) -> dict[str, list[Reading]]:
    return dict(store.readings.readings_between(["M1", "M2"], -(2**40), 2**40))


def test_retention_drops_the_months_wholly_older_than_the_cutoff_with_their_conflicts(
    store: PostgresStore, postgres_database: str
) -> None:
    times = [OCT, LAST_OF_OCT, NOV, LAST_OF_NOV, FIRST_OF_DEC, DEC]
    store.readings.add_readings([Reading("M1", t, n, None) for n, t in enumerate(times)], DEC)
    store.readings.add_readings(
        [Reading("M2", LONG_AGO, 1, 0), Reading("M2", FAR_AHEAD, 2, 0)], DEC
    )
    conflicting = [Reading("M1", NOV, 99, None), Reading("M1", DEC, 99, None)]
    assert len(store.readings.add_readings(conflicting, DEC).conflicts) == 2
    assert partitions(store, postgres_database) == [
        "readings_202610",
        "readings_202611",
        "readings_202612",
        "readings_before_2000",
        "readings_from_2100",
    ]

    # October and November end before the 10th of December; 1990 is older too.
    assert store.readings.expire(utc(2026, 12, 10)) == 5
    assert everything(store) == {
        "M1": [Reading("M1", FIRST_OF_DEC, 4, None), Reading("M1", DEC, 5, None)],
        "M2": [Reading("M2", FAR_AHEAD, 2, 0)],
    }
    assert store.readings.conflicts_between(["M1"], OCT, DEC) == [("M1", DEC)]
    assert [c.t for c in store.readings.list_conflicts()] == [DEC]
    assert store.readings.newest_batch(OCT, LAST_OF_NOV) == 0  # nothing of those days is left
    assert store.readings.newest_batch(FIRST_OF_DEC, DEC) == 3
    assert partitions(store, postgres_database) == [
        "readings_202612",
        "readings_before_2000",
        "readings_from_2100",
    ]
    assert store.readings.expire(utc(2026, 12, 10)) == 0


def test_a_month_stays_while_one_of_its_readings_is_not_older_than_the_cutoff(
    store: PostgresStore,
) -> None:
    november = [Reading("M1", utc(2026, 11), 1, None), Reading("M1", LAST_OF_NOV, 2, None)]
    store.readings.add_readings(november, DEC)
    assert store.readings.expire(LAST_OF_NOV) == 0
    assert store.readings.expire(FIRST_OF_DEC - 1) == 0  # the month ends a second later
    assert everything(store) == {"M1": november}
    assert store.readings.expire(FIRST_OF_DEC) == 2
    assert everything(store) == {}


def test_a_reading_of_a_dropped_month_arriving_later_is_stored_again(
    store: PostgresStore, postgres_database: str
) -> None:
    store.readings.add_readings([Reading("M1", NOV, 1, None)], DEC)
    assert store.readings.expire(FIRST_OF_DEC) == 1
    late = store.readings.add_readings([Reading("M1", LAST_OF_NOV, 2, 0)], DEC + 60)
    assert late.stored == 1
    assert everything(store) == {"M1": [Reading("M1", LAST_OF_NOV, 2, 0)]}
    assert partitions(store, postgres_database) == [
        "readings_202611",
        "readings_before_2000",
        "readings_from_2100",
    ]


def test_a_new_month_is_made_while_a_long_read_of_the_readings_is_under_way(
    store: PostgresStore, postgres_database: str
) -> None:
    store.readings.add_readings([Reading("M1", NOV, 1, None)], DEC)
    with psycopg.connect(postgres_database) as reader, ThreadPoolExecutor(1) as writer:
        reader.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
        assert reader.execute("SELECT count(*) FROM readings").fetchone() == (1,)  # still open
        storing = writer.submit(store.readings.add_readings, [Reading("M1", DEC, 2, None)], DEC)
        try:  # a month made with an exclusive lock on the table would wait for the read
            assert storing.result(timeout=20).stored == 1
        finally:
            reader.rollback()
    assert everything(store) == {"M1": [Reading("M1", NOV, 1, None), Reading("M1", DEC, 2, None)]}


def test_retention_waits_a_moment_for_a_long_read_then_leaves_it_to_the_next_run(
    store: PostgresStore, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_partitions, "_DETACH_WAIT_MS", 200)
    store.readings.add_readings([Reading("M1", NOV, 1, None)], DEC)
    with psycopg.connect(postgres_database) as reader:
        reader.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
        assert reader.execute("SELECT count(*) FROM readings").fetchone() == (1,)  # still open
        with pytest.raises(StoreError, match=r"expiring readings failed: .*lock timeout"):
            store.readings.expire(FIRST_OF_DEC)
        reader.rollback()
    assert store.readings.add_readings([Reading("M1", DEC, 2, None)], DEC).stored == 1
    assert store.readings.expire(FIRST_OF_DEC) == 1
    assert everything(store) == {"M1": [Reading("M1", DEC, 2, None)]}


def test_a_month_left_detached_by_a_run_that_stopped_is_dropped_and_counted_by_the_next(
    store: PostgresStore, postgres_database: str
) -> None:
    store.readings.add_readings([Reading(m, OCT, 1, None) for m in ("M1", "M2")], DEC)
    store.readings.add_readings([Reading("M1", NOV, 2, None)], DEC)
    with psycopg.connect(postgres_database) as db:  # stopped after detaching October
        db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
        db.execute("ALTER TABLE readings DETACH PARTITION readings_202610")
        db.execute("ALTER TABLE readings_202610 RENAME TO expired_readings_202610")
    assert store.readings.expire(utc(2000, 1)) == 2  # no month is older than 2000
    assert everything(store) == {"M1": [Reading("M1", NOV, 2, None)]}
    with psycopg.connect(postgres_database) as db:
        found = db.execute("SELECT to_regclass(%s)", (f"{store.schema}.expired_readings_202610",))
        assert found.fetchone() == (None,)


def test_the_scheduled_export_run_drops_readings_older_than_their_retention(
    store: PostgresStore, tmp_path: Path
) -> None:
    store.registry.add_customer(ACME)
    store.registry.add_device(Device("U-1", ACME.id))
    store.registry.save_meters(make_store().registry.list_meters())
    store.readings.add_readings(boundary_readings("M-1"), SLOTS.start)
    june = [Reading("M-1", utc(2026, 6, 10), 1, None), Reading("M-2", utc(2026, 6, 30), 1, None)]
    july = [Reading("M-1", utc(2026, 7, 1), 2, None)]
    store.readings.add_readings(june + july, SLOTS.start)
    outbox, now = LocalOutbox(tmp_path / "outbox"), SLOTS.end + 3600
    kept = ExportSettings(readings_retention_days=120)  # cutoff: 2026-07-30
    by_hand = ExportRequest(remove_expired=False)
    assert export_due(store, outbox, kept, now=now, request=by_hand).expired_readings == 0
    assert export_due(store, outbox, ExportSettings(), now=now).expired_readings == 0
    run = export_due(store, outbox, kept, now=now)
    assert run.expired_readings == 2
    assert not run.failures
    assert dict(store.readings.readings_between(["M-1", "M-2"], 0, utc(2026, 8))) == {"M-1": july}
