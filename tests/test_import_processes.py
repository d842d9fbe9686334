"""The import of one file in several processes: cut at line ends, every message named by
its line as in one process, and the store left exactly as one process leaves it; the
lock of meters' changes spans the processes that ingest into one database."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from itertools import pairwise
from pathlib import Path

import pytest

from conftest import kenshin, make_site, wait_for
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import open_app
from kenshin.domain.model import Customer
from kenshin.entrypoints.cli.data import import_stream
from kenshin.errors import KenshinError
from kenshin.import_processes import import_file, parts, processes_for
from kenshin.services.incoming import IngestSummary

# What a store holds after an import, each in an order of its own.
CONTENTS = {
    "readings": "SELECT m.id, r.t, r.fwd, r.rev FROM readings r JOIN meters m ON m.key = r.meter",
    "dead letters": "SELECT source, payload FROM dead_letters",  # reasons say when received
    "conflicts": "SELECT m.id, c.t, stored_fwd, stored_rev, new_fwd, new_rev"
    " FROM conflicts c JOIN meters m ON m.key = c.meter",
    "meters": "SELECT id, device, unit_mwh, digits, installed_at, removed_at, reverse FROM meters",
}


def contents(site: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(site / "kenshin.db")) as db:
        return {name: sorted(db.execute(sql).fetchall()) for name, sql in CONTENTS.items()}


def test_parts_end_at_line_ends_and_know_their_first_line(tmp_path: Path) -> None:
    lines = [b"a" * (n % 7) + b"\n" for n in range(50)] + [b"x" * 5000 + b"\n", b"last"]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(lines))
    for count in (1, 2, 3, 7, 60):
        found = parts(path, count)
        assert len(found) == count
        assert found[0].start == 0
        assert found[-1].end == path.stat().st_size
        for before, after in pairwise(found):
            assert before.end == after.start
        data = path.read_bytes()
        for part in found:
            assert part.start in {0, len(data)} or data[part.start - 1 : part.start] == b"\n"
            assert part.first_line == data[: part.start].count(b"\n") + 1
    assert parts(path, 2)[1].start == sum(map(len, lines[:51]))  # past the long line


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two copies of a site with a simulated fleet's devices, the fleet's file, and the
    first site having imported it in one process."""
    site = make_site(tmp_path, "one")
    made = kenshin(
        site, "simulate", "--devices", "40", "--days", "2", "--start", "2026-11-01",
        "--faults", "all", "--out", str(tmp_path / "fleet.jsonl"),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    added = kenshin(
        site, "devices", "add", "--customer", "C-001", "--file", str(tmp_path / "fleet.devices.csv")
    )
    assert added.exit_code == 0, added.output
    other = tmp_path / "other"
    shutil.copytree(site, other)
    return site, other, tmp_path / "fleet.jsonl"


def imported(site: Path, fleet: Path, processes: int, told: Callable[[int], None]) -> IngestSummary:
    app = open_app(site / "kenshin.toml")
    try:
        if processes == 1:
            return import_stream(app, fleet, 1)
        return import_file(app, fleet, processes, batch_size=200, progress=told)
    finally:
        app.close()


@pytest.mark.integration
def test_a_file_is_imported_in_parts_as_one_process_imports_it(
    fleet: tuple[Path, Path, Path],
) -> None:
    site, other, file = fleet
    alone = imported(site, file, 1, print)
    told: list[int] = []
    together = imported(other, file, 3, told.append)
    assert together == alone
    assert min(alone.dead_letters, alone.conflicts, alone.meters_discovered) > 0
    assert sum(told) == file.stat().st_size  # every byte's progress told
    assert contents(other) == contents(site)


@pytest.mark.integration
def test_an_import_whose_worker_dies_says_so_and_loses_nothing_imported_again(
    fleet: tuple[Path, Path, Path],
) -> None:
    site, other, file = fleet
    imported(site, file, 1, print)
    killed: list[int] = []

    def kill(_: int) -> None:
        for worker in multiprocessing.active_children():
            if worker.pid not in killed:
                killed.append(worker.pid or 0)
                os.kill(worker.pid or 0, signal.SIGKILL)

    with pytest.raises(KenshinError, match="importing the file again stores the rest"):
        imported(other, file, 2, kill)
    assert killed
    imported(other, file, 1, print)
    assert contents(other) == contents(site)


def test_a_small_file_or_the_memory_store_is_imported_in_one_process(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    settings = open_app(site / "kenshin.toml")
    try:
        assert processes_for(settings.settings, 4, 7 * 2**20) == 1
        assert processes_for(settings.settings, 4, 17 * 2**20) == 2  # a part 8 MiB at least
        assert processes_for(settings.settings, 2, 1_000 * 2**20) == 2
    finally:
        settings.close()
    memory = open_app(site / "kenshin.toml", environ={"KENSHIN_STORE__BACKEND": "memory"})
    try:
        assert processes_for(memory.settings, 4, 1_000 * 2**20) == 1
    finally:
        memory.close()


def test_a_change_written_while_the_lock_is_held_shows_the_next_time(tmp_path: Path) -> None:
    """An operator's command takes no lock of meters' changes: what it commits while an
    ingest holds the lock is seen by that ingest's next batch."""
    one, two = SqliteStore(tmp_path / "k.db"), SqliteStore(tmp_path / "k.db")
    try:
        with one.registry.changing_meters():
            pass
        with one.registry.changing_meters():
            one.registry.add_customer(Customer("C-1", "one"))  # its own: not news to it
            two.registry.add_customer(Customer("C-2", "two"))  # another's, meanwhile
        with one.registry.changing_meters() as shared:
            assert shared
        with one.registry.changing_meters() as shared:
            assert not shared
    finally:
        one.close()
        two.close()


def test_the_lock_of_meters_changes_spans_connections_and_says_when_others_wrote(
    tmp_path: Path,
) -> None:
    one, two = SqliteStore(tmp_path / "k.db"), SqliteStore(tmp_path / "k.db")
    try:
        with one.registry.changing_meters() as shared:
            assert shared  # nothing known of the others yet
        with one.registry.changing_meters() as shared:
            assert not shared  # nobody else wrote since
        two.registry.add_customer(Customer("C-2", "two"))
        entered = threading.Event()

        def take() -> None:
            with two.registry.changing_meters():
                entered.set()

        with one.registry.changing_meters() as shared:
            assert shared  # another connection committed meanwhile
            taker = threading.Thread(target=take)
            taker.start()
            assert not entered.wait(0.3)  # the other would be in by now if the lock let it
        wait_for("the other connection to take the lock", entered.is_set)
        taker.join()
        with one.registry.changing_meters(), one.registry.changing_meters() as again:
            assert not again  # its holder takes it again at once
        lock = tmp_path / "k.db-meters.lock"
        assert lock.stat().st_mode & 0o777 == (tmp_path / "k.db").stat().st_mode & 0o777
    finally:
        one.close()
        two.close()
