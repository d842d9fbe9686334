"""The SQLite store's own parts: packed days (packed once, in chunks, kept true to late
readings) and the migration of an old database."""

from __future__ import annotations

import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from kenshin.adapters import sqlite_days
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.adapters.sqlite_bulk import SqliteBulkReader
from kenshin.adapters.sqlite_schema import MIGRATIONS, statements
from kenshin.domain.model import Reading
from kenshin.ports import Store

U0 = 1_795_910_400  # 2026-11-29 00:00 UTC
DAY = 86_400


def day_of_readings(meter: str, day: int, step: int = 10) -> list[Reading]:
    return [Reading(meter, U0 + day * DAY + 1800 * i, step * i, None) for i in range(48)]


def registers(store: Store, meters: list[str], day: int) -> list[list[int]]:
    fwd, rev = store.readings.boundary_registers(meters, U0 + day * DAY, 48)
    return [*fwd.tolist(), *rev.tolist()]


def test_each_closed_day_is_packed_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "kenshin.db")
    for day in range(3):
        store.readings.add_readings(day_of_readings("M1", day), U0)
    # Day 2 has not ended an hour before: only days 0 and 1 are closed.
    assert store.readings.compact(U0 + 2 * DAY + 3600) == 2
    assert store.readings.compact(U0 + 2 * DAY + 3600) == 0
    store.readings.add_readings([Reading("M1", U0 + 1800 * 48 - 900, 5, None)], U0)  # off the grid
    assert store.readings.compact(U0 + 2 * DAY + 3600) == 0
    assert store.readings.compact(U0 + 3 * DAY) == 1
    with closing(sqlite3.connect(tmp_path / "kenshin.db")) as db:
        assert db.execute("SELECT count(*) FROM day_registers").fetchone() == (3,)
    store.close()


def test_packing_in_chunks_beside_a_writer_keeps_every_late_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process packs two meters per transaction while this one stores late readings.
    monkeypatch.setattr(sqlite_days, "CHUNK", 2)
    store, twin = SqliteStore(tmp_path / "kenshin.db"), MemoryStore()
    meters = [f"M{n}" for n in range(5)]
    first = [r for m in meters for r in day_of_readings(m, 0) if r.t % 3600 == 0]
    late = [
        [Reading("M0", U0 + 1800, 10, 1), Reading("M3", U0 + 1800, 10, None)],
        [Reading("M1", U0 + 5400, 30, None), Reading("M4", U0 + 5400, 31, None)],
        [Reading("M2", U0 + 9000, 50, 2), Reading("M0", U0 + 9000, 50, None)],
    ]
    other = sqlite3.connect(tmp_path / "kenshin.db", isolation_level=None)
    other.execute(sqlite_days.TEMP_SCHEMA)
    for batch in [first, *late]:
        assert store.readings.add_readings(batch, U0) == twin.readings.add_readings(batch, U0)
        other.execute("BEGIN IMMEDIATE")
        done = sqlite_days.pack_chunk(other, U0 // DAY)
        other.execute("COMMIT")
    assert done
    assert store.readings.compact(U0 + DAY) == 0
    assert registers(store, meters, 0) == registers(twin, meters, 0)
    other.close()
    store.close()


def test_a_database_of_the_first_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    with closing(sqlite3.connect(path)) as old, old:
        for statement in statements(MIGRATIONS[0]):
            old.execute(statement)
        old.execute("INSERT INTO meters (key, id) VALUES (1, 'M1')")
        old.execute("INSERT INTO batches VALUES (1, 0)")
        old.executemany(
            "INSERT INTO readings VALUES (1, ?, ?, NULL, 1)",
            [(r.t, r.fwd) for r in day_of_readings("M1", 0) + day_of_readings("M1", 1)],
        )
        letter = ("mqtt", "not JSON", b"{", 0, "U-1")
        old.executemany(
            "INSERT INTO dead_letters (source, reason, payload, received_at, device)"
            " VALUES (?, ?, ?, ?, ?)",
            [letter, letter, (*letter[:4], None)],
        )
        old.execute("PRAGMA user_version = 1")
    store = SqliteStore(path)
    assert store.dead_letters.count_dead_letters() == 2  # the repeated one is kept once
    assert store.readings.compact(U0 + 2 * DAY) == 2
    assert registers(store, ["M1"], 0)[0] == [10 * i for i in range(48)] + [0]
    store.close()
    with closing(sqlite3.connect(path)) as db:  # keyed by time first, so that live ingest appends
        key = db.execute("SELECT name FROM pragma_index_info('sqlite_autoindex_readings_1')")
        assert [name for (name,) in key.fetchall()] == ["t", "meter"]


def test_bulk_reads_agree_with_the_reference_store_for_any_list_of_meters(
    tmp_path: Path,
) -> None:
    store, twin = SqliteStore(tmp_path / "kenshin.db"), MemoryStore()
    batches = [
        day_of_readings("M1", 0) + day_of_readings("M1", 1),
        [Reading("M2", U0 + DAY + 1800 * i, 7 * i, 3 * i) for i in range(0, 48, 3)],
        day_of_readings("M3", 2),
        [Reading("M1", U0 + 900, 5, None), Reading("M2", U0 + DAY + 2700, 8, 4)],  # off the grid
    ]
    for batch in batches:
        assert store.readings.add_readings(batch, U0) == twin.readings.add_readings(batch, U0)
    store.readings.compact(U0 + DAY + 3600)  # day 0 packed, days 1 and 2 read from the readings
    listed = ["M2", "nobody", "M1", "M2", "M3"]  # an unknown meter, a meter listed twice
    for start, count in [(U0, 96), (U0 + DAY - 1800, 49), (U0 + 900, 60), (U0 + DAY + 2700, 3)]:
        ours, reference = store.readings.boundary_registers(listed, start, count)
        theirs = twin.readings.boundary_registers(listed, start, count)
        assert ours.tolist() == theirs[0].tolist()
        assert reference.tolist() == theirs[1].tolist()
    assert list(store.readings.readings_between(listed, U0 + 900, U0 + DAY + 2700)) == list(
        twin.readings.readings_between(listed, U0 + 900, U0 + DAY + 2700)
    )
    store.close()


def test_bulk_reads_in_two_threads_at_once_both_succeed(tmp_path: Path) -> None:
    # The export and the daily report read registers in threads of their own at the
    # same time: neither may see the other's transaction.
    store = SqliteStore(tmp_path / "kenshin.db")
    meters = [f"M{n}" for n in range(50)]
    store.readings.add_readings([r for m in meters for r in day_of_readings(m, 0)], U0)
    expected = registers(store, meters, 0)
    start = threading.Barrier(2)

    def read() -> list[list[list[int]]]:
        start.wait()
        return [registers(store, meters, 0) for _ in range(40)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result() for f in [pool.submit(read), pool.submit(read)]]
    assert all(found == expected for found in results[0] + results[1])
    store.close()


def test_a_read_under_way_when_the_store_closes_has_its_connection_closed_at_its_end(
    tmp_path: Path,
) -> None:
    # The server closes its store on the way out while an export may still be reading:
    # the read ends as it would have, and its connection is closed then, not kept.
    store = SqliteStore(tmp_path / "kenshin.db")
    store.readings.add_readings(day_of_readings("M1", 0), U0)
    expected = store.readings.boundary_registers(["M1"], U0, 48)[0].tolist()
    opened: list[sqlite3.Connection] = []
    reading, closed = threading.Event(), threading.Event()

    def pause() -> int:
        if not reading.is_set():
            reading.set()
            closed.wait(10)
        return 0

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(tmp_path / "kenshin.db", check_same_thread=False)
        db.set_progress_handler(pause, 1000)
        opened.append(db)
        return db

    reader = SqliteBulkReader(connect)
    with ThreadPoolExecutor(max_workers=1) as pool:
        read = pool.submit(reader.boundary_registers, ["M1"], U0, 48)
        assert reading.wait(10)
        reader.close()
        closed.set()
        assert read.result()[0].tolist() == expected
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        reader.boundary_registers(["M1"], U0, 48)
    reader.close()  # again: nothing to do
    store.close()
    store.close()
    assert store.closed


def test_no_code_leaves_a_connection_to_the_garbage_collector() -> None:
    # A connection used as a context manager commits but is never closed: Python 3.13 then warns
    # (ResourceWarning) in whichever test runs the collector, far from the cause.
    root = Path(__file__).resolve().parent.parent
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("src", "tests", "bench")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"with sqlite3" + r"\.connect\(", line)
    ]
    assert found == [], f"use contextlib.closing(sqlite3.connect(...)): {found}"
