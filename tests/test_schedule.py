"""The server's export runs: which days each run exports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.changes import change_record_name
from kenshin.domain.model import Reading
from kenshin.ports import Store
from kenshin.services.export import ExportSettings
from kenshin.services.schedule import ExportRun, LateReadings, every, export_due
from test_export import ACME, DAY, NAME, SLOTS, boundary_readings, make_store

DAY_S = 86_400


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "k.db")
    template = make_store()
    opened.registry.add_customer(ACME)
    for device in template.registry.list_devices():
        opened.registry.add_device(device)
    opened.registry.save_meters(template.registry.list_meters())
    yield opened
    opened.close()


def test_a_final_day_with_late_readings_is_restated_by_the_next_run(
    store: Store, tmp_path: Path
) -> None:
    outbox, settings, late = LocalOutbox(tmp_path / "outbox"), ExportSettings(), LateReadings()
    # M-2 reported only the first half of DAY; DAY and the next are final a day later.
    store.readings.add_readings(
        boundary_readings("M-1") + boundary_readings("M-2", range(25, 49)), 0
    )
    next_day = [Reading("M-1", t + DAY_S, 9_000, None) for t in SLOTS.boundaries]
    store.readings.add_readings(next_day, 1)
    export_due(store, outbox, settings, now=SLOTS.end + 2 * DAY_S, late=late)
    assert store.revisions.latest_revision("C1", DAY.isoformat()).status == "final"  # type: ignore[union-attr]
    # Three days later, the backlog of M-2 arrives: the next run restates DAY, and only it.
    now = SLOTS.end + 5 * DAY_S
    store.readings.add_readings(boundary_readings("M-2")[25:], now - 600)
    run = export_due(store, outbox, settings, now=now, late=late)
    earlier = DAY + timedelta(days=2)  # the days before this run's look back
    written = {(o.day, o.revision, o.status) for o in run.outcomes if o.changed}
    assert {w for w in written if w[0] < earlier} == {(DAY, 2, "final")}
    content = outbox.read("C1", NAME)
    assert content is not None
    assert content.decode().split("\r\n")[2].endswith("," + "A" * 48)  # M-2 complete now
    assert outbox.read("C1", change_record_name(NAME, 2)) is not None
    # Days nothing changed since are not exported again.
    again = export_due(store, outbox, settings, now=now + 1800, late=late)
    assert [o.day for o in again.outcomes if o.day < earlier] == []


def test_a_run_with_failures_is_tried_again_within_minutes() -> None:
    runs: list[int] = []

    def job(now: int) -> ExportRun:
        runs.append(now)
        return ExportRun(failures={"C1": "disk full"} if len(runs) == 1 else {})

    async def main() -> None:
        stop = asyncio.Event()
        clock = iter(range(0, 10_000, 60))  # a minute a call
        task = asyncio.create_task(every(1800, job, stop, clock=lambda: next(clock), retry_s=0.05))
        deadline = time.monotonic() + 10
        while len(runs) < 2:
            assert time.monotonic() < deadline, "the failed run was not tried again soon"
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(main())
    assert runs[:2] == [0, 60]


def test_a_store_that_cannot_drop_readings_keeps_them_whatever_their_retention(
    store: Store, tmp_path: Path
) -> None:
    old = [Reading("M-1", SLOTS.start - 200 * DAY_S, 1, None)]
    store.readings.add_readings(old, 0)
    settings = ExportSettings(readings_retention_days=120)
    run = export_due(store, LocalOutbox(tmp_path / "outbox"), settings, now=SLOTS.end)
    assert run.expired_readings == 0
    assert dict(store.readings.readings_between(["M-1"], 0, SLOTS.start)) == {"M-1": old}
