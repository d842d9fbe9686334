"""Gap recovery: units asked to resend what their meters lack, with backoff, and the
file re-issued once the readings come back."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.config import RecoveryConfig
from kenshin.domain.model import Customer, Device, Meter, MeterSpec, Reading
from kenshin.domain.slots import local_day, zone
from kenshin.ports import Store
from kenshin.services.export import export_day
from kenshin.services.recovery import ask_for_gaps

SPEC = MeterSpec(unit_mwh=100_000, coefficient=1, digits=6)
NOW = int(datetime(2026, 11, 27, 6, tzinfo=UTC).timestamp())
HOUR = 3600
SETTINGS = RecoveryConfig()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "k.db")
    made.registry.add_customer(Customer("C1", "First", timezone="UTC"))
    for device in ("U-1", "U-2"):
        made.registry.add_device(Device(device, "C1"))
    made.registry.save_meters([Meter("M-1", "U-1", SPEC), Meter("M-2", "U-2", SPEC)])
    yield made
    made.close()


def readings(meter: str, start: int, end: int, skip: Collection[int] = ()) -> list[Reading]:
    return [
        Reading(meter, t, (t - start) // 1800, None)
        for t in range(start, end + 1, 1800)
        if t not in skip
    ]


def payload_range(store: Store, command_id: int) -> tuple[str, str]:
    command = store.commands.get_command(command_id)
    assert command is not None
    body = json.loads(command.payload)
    assert (body["v"], body["command"], body["id"]) == (1, "resend", command_id)
    return body["from"], body["to"]


def test_a_unit_is_asked_for_its_meters_holes_and_no_one_else(store: Store) -> None:
    day_ago = NOW - 24 * HOUR
    holes = {NOW - 10 * HOUR, NOW - 9 * HOUR - 1800}  # 20:00 and 20:30 UTC
    store.readings.add_readings(readings("M-1", day_ago, NOW - 2 * HOUR, holes), 0)
    store.readings.add_readings(readings("M-2", day_ago, NOW - 2 * HOUR), 0)  # complete
    asked = ask_for_gaps(store, SETTINGS, now=NOW)
    assert [(a.device, a.attempt) for a in asked] == [("U-1", 1)]
    assert payload_range(store, asked[0].command_id) == (
        "2026-11-26T20:00:00Z",
        "2026-11-26T20:30:00Z",
    )
    assert [c.device for c in store.commands.pending_commands("U-1")] == ["U-1"]


def test_attempts_wait_longer_each_time_and_stop(store: Store) -> None:
    store.readings.add_readings(
        readings("M-1", NOW - 24 * HOUR, NOW - 2 * HOUR, {NOW - 10 * HOUR}), 0
    )
    attempts = []
    for minutes in range(0, 24 * 60, 30):
        now = NOW + minutes * 60
        attempts += [(minutes, a.attempt) for a in ask_for_gaps(store, SETTINGS, now=now)]
    # 60, 120, 240 minutes apart, then no more after the fourth.
    assert attempts == [(0, 1), (60, 2), (180, 3), (420, 4)]


def test_a_unit_still_offline_or_a_hole_too_recent_is_not_asked(store: Store) -> None:
    store.readings.add_readings(
        readings("M-1", NOW - 24 * HOUR, NOW - 12 * HOUR), 0
    )  # silent since
    # M-2's hole is too recent to be one yet: its reading may still be on its way.
    store.readings.add_readings(readings("M-2", NOW - 24 * HOUR, NOW, {NOW - HOUR}), 0)
    assert ask_for_gaps(store, SETTINGS, now=NOW) == []
    assert ask_for_gaps(store, RecoveryConfig(enabled=False), now=NOW) == []


def test_what_comes_back_fills_the_gap_and_reissues_the_file(store: Store, tmp_path: Path) -> None:
    customer = Customer("C1", "First", timezone="UTC")
    day = local_day(NOW - 24 * HOUR, zone("UTC"))
    start = NOW - 30 * HOUR  # 2026-11-26 00:00 UTC
    hole = start + 10 * HOUR
    store.readings.add_readings(readings("M-1", start, NOW - 2 * HOUR, {hole}), 0)
    store.readings.add_readings(readings("M-2", start, NOW - 2 * HOUR), 0)
    outbox = LocalOutbox(tmp_path / "outbox")
    first = export_day(store, outbox, customer, day, now=NOW)
    assert first.actual_slots == 94  # two slots of M-1 estimated
    (asked,) = ask_for_gaps(store, SETTINGS, now=NOW)
    assert payload_range(store, asked.command_id) == ("2026-11-26T10:00:00Z",) * 2
    # The unit answers with the reading it had kept.
    store.readings.add_readings([Reading("M-1", hole, (hole - start) // 1800, None)], NOW + 60)
    store.commands.acknowledge_command(asked.command_id, NOW + 60)
    second = export_day(store, outbox, customer, day, now=NOW + 120)
    assert (second.revision, second.actual_slots) == (2, 96)
    assert ask_for_gaps(store, SETTINGS, now=NOW + 2 * HOUR) == []
