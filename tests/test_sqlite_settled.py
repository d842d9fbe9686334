"""Settled days in the SQLite store: an old packed day becomes the record of its
readings, which are dropped; every read, and a late reading's fate, stay as they were."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from kenshin.adapters import sqlite_days, sqlite_settled
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Reading, Watermark
from kenshin.ports import Store
from kenshin.services.export import ExportSettings
from kenshin.services.schedule import export_due

U0 = 1_795_910_400  # 2026-11-29 00:00 UTC
DAY = 86_400
METERS = [f"M{n:02}" for n in range(30)]
AFTER = U0 + 2 * DAY  # both days ended


def live(store: Store, *more: Store, meters: list[str] = METERS) -> list[Watermark]:
    """Two UTC days of the meters, a batch each half hour as a fleet reports, sent a
    few minutes after each reading's time; the watermark after each batch."""
    marks = []
    for i in range(96):
        t = U0 + 1800 * i
        batch = [
            Reading(m, t, 10 * i + n, n % 3 or None, t + 300 + n)
            for n, m in enumerate(METERS)
            if m in meters
        ]
        for each in (store, *more):
            each.readings.add_readings(batch, t + 600)
        marks.append(store.watermark())
    return marks


def reads(store: Store, as_of: Watermark | None = None) -> list[object]:
    """Registers of a UTC day, of a Tokyo day over both, and every reading."""
    found: list[object] = []
    for start in (U0, U0 + 15 * 3600):
        fwd, rev = store.readings.boundary_registers(METERS, start, 48, as_of)
        found += [fwd.tolist(), rev.tolist()]
    if as_of is None:
        found.append(list(store.readings.readings_between(METERS, 0, 2**40)))
    return found


def rows(store_path: Path, sql: str) -> int:
    with closing(sqlite3.connect(store_path)) as db:
        count: int = db.execute(sql).fetchone()[0]
        return count


def settle(store: SqliteStore, before: int = AFTER) -> int:
    store.readings.compact(before)
    return store.readings.settle(before, 100)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "kenshin.db"


def test_a_settled_day_reads_as_before_without_its_readings(path: Path) -> None:
    store, twin = SqliteStore(path), MemoryStore()
    try:
        marks = live(store, twin)
        before = [reads(store, mark) for mark in marks[::7]]
        assert settle(store) == 2
        assert rows(path, "SELECT count(*) FROM readings") == 0
        assert rows(path, "SELECT count(*) FROM day_registers WHERE settled IS NOT NULL") == 60
        assert reads(store) == reads(twin)
        assert [reads(store, mark) for mark in marks[::7]] == before
        assert settle(store) == 0  # settled once only
    finally:
        store.close()


def test_a_late_reading_of_a_settled_day_is_told_as_before(path: Path) -> None:
    store, twin = SqliteStore(path), MemoryStore()
    try:
        live(store, twin)
        settle(store)
        t = U0 + 1800 * 5
        late = [
            Reading("M00", t, 50, None, t + 300),  # the same again
            Reading("M01", t, 999, 1, t + 900),  # another value, sent after the stored one
            Reading("M02", t, 777, 2, t + 60),  # another value, sent before: it is kept
            Reading("M03", t + 1, 1, None, t + 60),  # a new reading, off the half hours
        ]
        told = store.readings.add_readings(late, t + DAY)
        assert told == twin.readings.add_readings(late, t + DAY)
        assert (told.stored, told.duplicates, len(told.conflicts)) == (1, 1, 2)
        assert reads(store) == reads(twin)
        fwd, _ = store.readings.boundary_registers(["M01", "M02"], t, 0)
        assert fwd.tolist() == [[51], [777]]
        assert rows(path, "SELECT count(*) FROM readings") == 4 * 48 + 1  # their days put back
        assert settle(store) == 1  # the day of M00..M02 settled again; M03's keeps readings
        assert rows(path, "SELECT count(*) FROM readings") == 49
        assert reads(store) == reads(twin)
        conflicts = store.readings.conflicts_between(METERS, 0, 2**40)
        assert conflicts == twin.readings.conflicts_between(METERS, 0, 2**40)
    finally:
        store.close()


def test_days_with_readings_off_the_half_hours_or_some_sends_unknown_keep_their_readings(
    path: Path,
) -> None:
    store, twin = SqliteStore(path), MemoryStore()
    try:
        live(store, twin)
        odd = [
            Reading("M00", U0 + 900, 1, None, U0 + 1000),  # between two half hours
            Reading("M01", U0 + 1800 * 3, 30, None),  # no send time where the others have one
        ]
        for each in (store, twin):
            each.readings.add_readings(odd[:1], U0 + 1000)
        with closing(sqlite3.connect(path)) as db, db:  # a reading stored before send times
            db.execute(
                "UPDATE readings SET sent_lag = NULL"
                " WHERE t = ? AND meter = (SELECT key FROM meters WHERE id = 'M01')",
                (odd[1].t,),
            )
        assert settle(store) == 2
        assert rows(path, "SELECT count(DISTINCT meter) FROM readings") == 2
        assert rows(path, "SELECT count(*) FROM readings") == 49 + 48
        assert reads(store) == reads(twin)
    finally:
        store.close()


def test_an_export_run_settles_the_days_ended_four_days_before(tmp_path: Path) -> None:
    store, twin = SqliteStore(tmp_path / "kenshin.db"), MemoryStore()
    try:
        live(store, twin)
        early = export_due(store, LocalOutbox(tmp_path), ExportSettings(), now=AFTER + 4 * DAY - 1)
        assert early.settled_days == 1
        run = export_due(store, LocalOutbox(tmp_path), ExportSettings(), now=AFTER + 4 * DAY)
        assert (run.packed_days, run.settled_days) == (0, 1)
        assert rows(tmp_path / "kenshin.db", "SELECT count(*) FROM readings") == 0
        assert reads(store) == reads(twin)
    finally:
        store.close()


def test_settling_goes_a_chunk_of_meters_at_a_time_and_comes_back_for_late_days(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meters settled 7 at a time; three units offline then, whose days come late, and a
    late reading of a meter in the middle: the next pass settles them all."""
    monkeypatch.setattr(sqlite_settled, "CHUNK", 7)
    monkeypatch.setattr(sqlite_days, "CHUNK", 7)
    store, twin = SqliteStore(path), MemoryStore()
    try:
        first = [Reading(m, U0, n, n % 3 or None, U0 + 300 + n) for n, m in enumerate(METERS)]
        for each in (store, twin):  # every meter known, and a first reading of each
            each.readings.add_readings(first, U0)
        live(store, twin, meters=METERS[:12] + METERS[15:])
        assert settle(store) == 2
        assert rows(path, "SELECT count(*) FROM readings") == 0
        late = live(store, twin, meters=METERS[12:15])  # the offline units catch up
        t = U0 + 1800 * 9
        more = [Reading("M20", t, 90, 2, t + 300), Reading("M21", t, 1, None, t + 60)]
        assert store.readings.add_readings(more, t) == twin.readings.add_readings(more, t)
        assert rows(path, "SELECT count(*) FROM readings") == 3 * 96 + 2 * 48  # put back
        assert reads(store) == reads(twin)
        assert reads(store, late[10]) == reads(twin, late[10])
        assert settle(store) == 2  # both days again, from their first late meter
        assert rows(path, "SELECT count(*) FROM readings") == 0
        assert reads(store) == reads(twin)
        settled = "SELECT count(*) FROM day_registers WHERE settled IS NOT NULL"
        assert rows(path, settled) == 2 * len(METERS)
    finally:
        store.close()
