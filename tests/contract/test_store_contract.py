"""What every Store does, whichever backend holds the data."""

from __future__ import annotations

import importlib
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kenshin.adapters.sqlite import SqliteStore
from kenshin.adapters.sqlite_schema import MIGRATIONS
from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import (
    Conflict,
    Customer,
    DeadLetter,
    Device,
    FileRevision,
    FlagColumns,
    Labels,
    Layout,
    Meter,
    MeterSpec,
    Reading,
    SlotLabels,
    StoreResult,
)
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError
from kenshin.ports import Store

from .conftest import StoreFactory

SPEC = MeterSpec(unit_mwh=100, coefficient=1, digits=6)
T0 = 1_795_964_400  # 2026-11-30 00:00 in Asia/Tokyo


def day_of(store: Store, *meters: str) -> dict[str, list[Reading]]:
    """Everything the store holds for ``meters`` around T0, as a dict."""
    return dict(store.readings.readings_between(list(meters), T0 - 86_400, T0 + 86_400))


def registered(store: Store) -> Store:
    """``store`` with customers C1, C2 and devices D1 (C1), D2 (C2), D3 (C1)."""
    store.registry.add_customer(Customer("C2", "Second"))
    store.registry.add_customer(Customer("C1", "First"))
    for device, customer in (("D3", "C1"), ("D1", "C1"), ("D2", "C2")):
        store.registry.add_device(Device(device, customer))
    return store


# registry
def test_customers_keep_every_field_and_list_by_id(store: Store) -> None:
    special = Customer(
        "C2",
        "二号",
        "Europe/London",
        "cp932",
        Layout.NEM12,
        Labels.JA,
        2,
        "{date}",
        SlotLabels.NUMBER,
        FlagColumns.PER_SLOT,
    )
    store.registry.add_customer(special)
    store.registry.add_customer(Customer("C1", "First"))
    assert store.registry.get_customer("C2") == special
    assert store.registry.list_customers() == [Customer("C1", "First"), special]
    assert store.registry.get_customer("C9") is None


def test_a_customers_settings_are_changed_in_place(store: Store) -> None:
    store.registry.add_customer(Customer("C1", "First"))
    store.registry.add_customer(Customer("C2", "Second"))
    changed = replace(
        Customer("C1", "First"),
        layout=Layout.LONG,
        encoding="cp932",
        labels=Labels.JA,
        timezone="Europe/Berlin",
        slot_labels=SlotLabels.END,
        flags=FlagColumns.PER_SLOT,
    )
    store.registry.update_customer(changed)
    assert store.registry.list_customers() == [changed, Customer("C2", "Second")]
    with pytest.raises(NotFoundError, match="C9"):
        store.registry.update_customer(Customer("C9", "Nobody"))
    assert store.registry.get_customer("C9") is None


def test_a_taken_customer_id_is_refused_and_the_first_kept(store: Store) -> None:
    store.registry.add_customer(Customer("C1", "First"))
    with pytest.raises(AlreadyExistsError, match="C1"):
        store.registry.add_customer(Customer("C1", "Impostor"))
    assert store.registry.list_customers() == [Customer("C1", "First")]


def test_devices_are_listed_by_id_and_by_customer(store: Store) -> None:
    registered(store)
    assert store.registry.get_device("D2") == Device("D2", "C2")
    assert store.registry.get_device("D9") is None
    assert [d.id for d in store.registry.list_devices()] == ["D1", "D2", "D3"]
    assert store.registry.list_devices("C1") == [Device("D1", "C1"), Device("D3", "C1")]
    assert store.registry.list_devices("C9") == []


def test_a_device_needs_a_known_customer_and_a_free_id(store: Store) -> None:
    registered(store)
    with pytest.raises(NotFoundError, match="C9"):
        store.registry.add_device(Device("D9", "C9"))
    with pytest.raises(AlreadyExistsError, match="D1"):
        store.registry.add_device(Device("D1", "C2"))
    assert store.registry.get_device("D9") is None
    assert store.registry.get_device("D1") == Device("D1", "C1")


def test_a_device_moves_to_another_customer_with_its_meters(store: Store) -> None:
    registered(store)
    store.registry.save_meters([Meter("M1", "D1", MeterSpec(100, 1, 6))])
    store.registry.move_device("D1", "C2")
    assert store.registry.get_device("D1") == Device("D1", "C2")
    assert [m.id for m in store.registry.list_meters("C2")] == ["M1"]
    assert store.registry.list_meters("C1") == []
    with pytest.raises(NotFoundError, match="C9"):
        store.registry.move_device("D1", "C9")
    with pytest.raises(NotFoundError, match="D9"):
        store.registry.move_device("D9", "C1")
    assert store.registry.get_device("D1") == Device("D1", "C2")


def test_each_units_last_status_is_kept(store: Store) -> None:
    clocks = store.unit_clocks
    assert clocks.statuses() == {}
    clocks.save_status("U-2", 100, b'{"rsrp": -90}')
    clocks.save_status("U-1", 110, b"{}")
    clocks.save_status("U-2", 120, b'{"rsrp": -80}')
    assert clocks.statuses() == {"U-1": (110, b"{}"), "U-2": (120, b'{"rsrp": -80}')}
    clocks.save_statuses({"U-1": (130, b'{"fw": "2"}'), "U-3": (131, b"{}")})
    assert clocks.statuses() == {
        "U-1": (130, b'{"fw": "2"}'),
        "U-2": (120, b'{"rsrp": -80}'),
        "U-3": (131, b"{}"),
    }


def test_meters_are_saved_updated_and_listed_through_devices(store: Store) -> None:
    registered(store)
    store.registry.save_meters([Meter("M2", "D2", SPEC, 6000), Meter("M1", "D1", SPEC)])
    store.registry.save_meters([Meter("M3", "D3", SPEC), Meter("M0", "D-unknown", SPEC)])
    moved = Meter("M2", "D3", MeterSpec(10, 40, 8))  # no max demand given: the old one stays
    store.registry.save_meters([moved])
    assert store.registry.get_meter("M2") == Meter("M2", "D3", MeterSpec(10, 40, 8), 6000)
    assert [m.id for m in store.registry.list_meters()] == ["M0", "M1", "M2", "M3"]
    assert [m.id for m in store.registry.list_meters("C1")] == ["M1", "M2", "M3"]
    assert store.registry.list_meters("C2") == []
    assert [m.id for m in store.registry.list_meters(device_id="D3")] == ["M2", "M3"]
    assert [m.id for m in store.registry.list_meters("C1", device_id="D1")] == ["M1"]
    assert store.registry.list_meters("C2", device_id="D1") == []
    assert store.registry.list_meters(device_id="D9") == []
    assert store.registry.get_meter("M9") is None


def test_a_new_meter_is_registered_in_service_as_given_and_an_existing_one_keeps_its_own(
    store: Store,
) -> None:
    registered(store)
    store.registry.save_meters([Meter("M1", "D1", SPEC, installed_at=T0)])
    assert store.registry.get_meter("M1") == Meter("M1", "D1", SPEC, installed_at=T0)
    store.registry.save_meters([Meter("M1", "D1", SPEC, installed_at=T0 + 60, removed_at=T0 + 99)])
    assert store.registry.get_meter("M1") == Meter("M1", "D1", SPEC, installed_at=T0)


def test_changes_to_meters_are_made_one_holder_of_their_lock_at_a_time(store: Store) -> None:
    registered(store)
    order: list[str] = []
    with store.registry.changing_meters():
        other = threading.Thread(target=lambda: _change_meters(store, order))
        other.start()
        other.join(timeout=0.5)  # it waits for the lock: the time it may take to get it
        order.append("first let go")
    other.join(timeout=10)
    assert order == ["first let go", "second held"]


def _change_meters(store: Store, order: list[str]) -> None:
    with store.registry.changing_meters():
        order.append("second held")


def test_a_meter_seen_in_readings_first_can_be_registered_later(store: Store) -> None:
    registered(store)
    store.readings.add_readings([Reading("M7", T0, 10, 0)], received_at=T0)
    assert store.registry.get_meter("M7") is None
    assert store.registry.list_meters() == []
    store.registry.save_meters([Meter("M7", "D1", SPEC, reverse=True)])
    assert store.registry.list_meters("C1") == [Meter("M7", "D1", SPEC, reverse=True)]
    assert day_of(store, "M7") == {"M7": [Reading("M7", T0, 10, 0)]}


def test_a_reverse_register_once_known_is_remembered(store: Store) -> None:
    registered(store)
    store.registry.save_meters([Meter("M1", "D1", SPEC), Meter("M2", "D1", SPEC)])
    assert [m.reverse for m in store.registry.list_meters()] == [False, False]
    store.registry.save_meters([Meter("M2", "D1", SPEC, reverse=True)])
    store.registry.save_meters([Meter("M2", "D3", SPEC)])  # saved again, not knowing: still reverse
    assert store.registry.get_meter("M2") == Meter("M2", "D3", SPEC, reverse=True)
    assert [m.reverse for m in store.registry.list_meters(device_id="D1")] == [False]


# readings
def test_redelivering_a_batch_changes_nothing(store: Store) -> None:
    batch = [Reading("M1", T0, 100, 0), Reading("M1", T0 + 1800, 104, 0), Reading("M2", T0, 7, 3)]
    assert store.readings.add_readings(batch, received_at=T0 + 60) == StoreResult(stored=3)
    before = day_of(store, "M1", "M2")
    assert store.readings.add_readings(batch, received_at=T0 + 120) == StoreResult(duplicates=3)
    assert day_of(store, "M1", "M2") == before
    assert before["M1"] == batch[:2]
    assert store.readings.list_conflicts() == []


def test_a_missing_register_is_completed_by_a_later_reading(store: Store) -> None:
    assert store.readings.add_readings([Reading("M1", T0, 100, None)], T0) == StoreResult(stored=1)
    assert store.readings.add_readings([Reading("M1", T0, None, 5)], T0 + 60) == StoreResult(
        stored=1
    )
    assert store.readings.add_readings([Reading("M1", T0, 100, 5)], T0 + 90) == StoreResult(
        duplicates=1
    )
    assert day_of(store, "M1") == {"M1": [Reading("M1", T0, 100, 5)]}
    assert store.readings.list_conflicts() == []


def test_the_newest_batch_of_days_counts_what_changed_readings(store: Store) -> None:
    day, next_day = T0 - T0 % 86_400, T0 - T0 % 86_400 + 86_400  # two UTC days
    assert store.readings.newest_batch(day, next_day + 3600) == 0
    store.readings.add_readings([Reading("M1", day + 1800, 100, None)], T0)
    first = store.watermark().batch
    store.readings.add_readings([Reading("M1", next_day, 200, None)], T0)
    second = store.watermark().batch
    store.readings.add_readings([Reading("M1", day + 1800, 100, None)], T0)  # a duplicate
    assert store.readings.newest_batch(day, day + 3600) == first
    assert store.readings.newest_batch(day + 7200, next_day) == second  # by whole UTC days
    store.readings.add_readings([Reading("M1", day + 1800, None, 7)], T0)  # completed
    completed = store.watermark().batch
    assert store.readings.newest_batch(day, day) == completed
    store.readings.add_readings([Reading("M1", next_day, 201, None)], T0)  # in conflict
    assert store.readings.newest_batch(next_day, next_day) == store.watermark().batch
    assert store.readings.newest_batch(day - 86_400, day - 1) == 0


def test_a_different_value_is_kept_aside_and_never_overwrites(store: Store) -> None:
    store.readings.add_readings([Reading("M1", T0, 100, None)], received_at=T0)
    result = store.readings.add_readings([Reading("M1", T0, 101, 9)], received_at=T0 + 60)
    conflict = Conflict("M1", T0, 100, None, 101, 9, received_at=T0 + 60)
    assert result == StoreResult(conflicts=(conflict,))
    assert day_of(store, "M1") == {"M1": [Reading("M1", T0, 100, None)]}  # rev not filled either
    assert store.readings.list_conflicts() == [conflict]
    again = store.readings.add_readings([Reading("M1", T0, 101, 9)], received_at=T0 + 120)
    assert again == StoreResult(conflicts=(replace(conflict, received_at=T0 + 120),))
    assert store.readings.list_conflicts() == [conflict]  # the same conflict again is kept once


def test_repeats_inside_one_batch_count_as_if_they_came_one_by_one(store: Store) -> None:
    batch = [
        Reading("M1", T0, 100, None),
        Reading("M1", T0, 100, None),  # duplicate
        Reading("M1", T0, None, 4),  # completion
        Reading("M1", T0, 100, 5),  # conflict with the completed reading
        Reading("M2", T0, 1, 1),
    ]
    result = store.readings.add_readings(batch, received_at=T0 + 1)
    conflict = Conflict("M1", T0, 100, 4, 100, 5, received_at=T0 + 1)
    assert result == StoreResult(stored=3, duplicates=1, conflicts=(conflict,))
    assert day_of(store, "M1", "M2") == {
        "M1": [Reading("M1", T0, 100, 4)],
        "M2": [Reading("M2", T0, 1, 1)],
    }
    assert store.readings.list_conflicts() == [conflict]


def test_conflicts_are_listed_oldest_first_up_to_the_limit(store: Store) -> None:
    store.readings.add_readings([Reading("M1", T0, 1, 0), Reading("M2", T0, 1, 0)], received_at=T0)
    store.readings.add_readings([Reading("M2", T0, 2, 0)], received_at=T0 + 10)
    store.readings.add_readings([Reading("M1", T0, 3, 0)], received_at=T0 + 20)
    assert store.readings.list_conflicts() == [
        Conflict("M2", T0, 1, 0, 2, 0, T0 + 10),
        Conflict("M1", T0, 1, 0, 3, 0, T0 + 20),
    ]
    assert store.readings.list_conflicts(limit=1) == [Conflict("M2", T0, 1, 0, 2, 0, T0 + 10)]


def test_conflicts_between_are_each_meters_times_once_in_the_range(store: Store) -> None:
    store.readings.add_readings(
        [Reading(m, t, 1, 0) for m in ("M1", "M2") for t in (T0, T0 + 1800)], T0
    )
    store.readings.add_readings([Reading("M2", T0, 2, 0), Reading("M1", T0 + 1800, 3, 0)], T0 + 10)
    store.readings.add_readings([Reading("M2", T0, 4, 0)], T0 + 20)  # a second conflict, same key
    assert store.readings.conflicts_between(["M2", "M1", "M9"], T0, T0 + 1800) == [
        ("M1", T0 + 1800),
        ("M2", T0),
    ]
    assert store.readings.conflicts_between(["M1"], T0, T0 + 1799) == []
    assert store.readings.conflicts_between([], T0, T0 + 1800) == []


def test_an_empty_batch_stores_nothing(store: Store) -> None:
    assert store.readings.add_readings([], received_at=T0) == StoreResult()
    assert day_of(store, "M1") == {}


def test_readings_between_includes_both_bounds_sorted_by_time(store: Store) -> None:
    times = [T0 + 3600, T0 - 1800, T0 + 1800, T0, T0 + 5400]
    store.readings.add_readings([Reading("M1", t, t - T0 + 1800, 0) for t in times], received_at=T0)
    store.readings.add_readings([Reading("M3", T0 + 1800, 1, 0)], received_at=T0)
    found = list(store.readings.readings_between(["M3", "M9", "M1", "M2"], T0, T0 + 3600))
    assert found == [
        ("M3", [Reading("M3", T0 + 1800, 1, 0)]),
        ("M1", [Reading("M1", t, t - T0 + 1800, 0) for t in (T0, T0 + 1800, T0 + 3600)]),
    ]
    assert list(store.readings.readings_between(["M1"], T0 + 1, T0 + 1799)) == []


def test_readings_between_serves_meters_over_several_queries_in_the_order_asked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over several of the stores' queries (2,000 meters each; 200 here, so that moto's
    DynamoDB answers 450 meters in a second rather than 4,500 in thirteen)."""
    for adapter in ("sqlite_readings", "postgres_readings", "dynamo_readings"):
        module = importlib.import_module(f"kenshin.adapters.{adapter}")
        assert module._CHUNK == 2000  # what the meters are cut by
        monkeypatch.setattr(module, "_CHUNK", 200)
    meters = [f"M{n:05d}" for n in range(450)]
    store.readings.add_readings(
        [Reading(m, T0 + 1800 * (n % 3), n, 0) for n, m in enumerate(meters)], T0
    )
    asked = meters[::-1]
    found = list(store.readings.readings_between(asked, T0, T0 + 3600))
    assert [m for m, _ in found] == asked
    assert found[0] == ("M00449", [Reading("M00449", T0 + 1800 * 2, 449, 0)])


def test_a_reading_without_registers_counts_as_a_duplicate_and_stores_nothing(
    store: Store,
) -> None:
    result = store.readings.add_readings(
        [Reading("M1", T0, None, None), Reading("M1", T0 + 900, 5, None)], T0
    )
    assert result == StoreResult(stored=1, duplicates=1)
    assert day_of(store, "M1") == {"M1": [Reading("M1", T0 + 900, 5, None)]}


@pytest.mark.parametrize("value", [-1, 100_000_000])
def test_a_register_outside_its_range_refuses_the_whole_batch(store: Store, value: int) -> None:
    batch = [Reading("M1", T0, 5, None), Reading("M2", T0, value, None)]
    with pytest.raises(StoreError, match=str(value)):
        store.readings.add_readings(batch, received_at=T0)
    assert day_of(store, "M1", "M2") == {}


def test_boundary_registers_give_every_half_hour_of_a_day_in_the_order_asked(
    store: Store,
) -> None:
    # M1 complete, M2 with a gap, only reverse at one boundary, and an off-boundary reading.
    store.readings.add_readings([Reading("M1", T0 + 1800 * i, 100 + i, 7) for i in range(49)], T0)
    m2 = [Reading("M2", T0 + 1800 * i, 5 * i, None) for i in range(49) if i != 10]
    m2 += [Reading("M2", T0 + 900, 99, None), Reading("M2", T0 + 1800 * 10, None, 3)]
    store.readings.add_readings(m2, T0)
    store.readings.add_readings([Reading("M3", T0 + 1800 * 49, 1, 1)], T0)  # the next day only
    fwd, rev = store.readings.boundary_registers(["M9", "M2", "M3", "M1"], T0, 48)
    assert fwd.shape == rev.shape == (4, 49)
    assert fwd[0].tolist() == rev[0].tolist() == fwd[2].tolist() == [NO_REGISTER] * 49
    assert rev[2].tolist() == [NO_REGISTER] * 49  # M3's reading is the next day's
    assert fwd[3].tolist() == [100 + i for i in range(49)]
    assert rev[3].tolist() == [7] * 49
    assert fwd[1].tolist() == [NO_REGISTER if i == 10 else 5 * i for i in range(49)]
    assert rev[1].tolist() == [3 if i == 10 else NO_REGISTER for i in range(49)]


def test_boundary_registers_follow_the_start_given_not_a_fixed_grid(store: Store) -> None:
    # Kathmandu's day starts at 18:15 UTC: boundaries at :15 and :45.
    start = T0 + 900
    store.readings.add_readings([Reading("M1", start + 1800 * i, i, None) for i in range(3)], T0)
    store.readings.add_readings([Reading("M1", T0 + 1800, 50, None)], T0)
    fwd, rev = store.readings.boundary_registers(["M1"], start, 2)
    assert (fwd.tolist(), rev.tolist()) == ([[0, 1, 2]], [[NO_REGISTER] * 3])


# dead letters
def test_dead_letters_keep_their_bytes_exactly(store: Store) -> None:
    letters = [
        DeadLetter("mqtt", "not JSON", b"\x00\xff\xfe{\r\n", T0, "U-1"),
        DeadLetter("echonet", "ESV 0x52", bytes(range(256)), T0 + 1),
        DeadLetter("mqtt", "empty", b"", T0 + 2, "U-2"),
    ]
    store.dead_letters.add_dead_letters(letters[:2])
    store.dead_letters.add_dead_letters(letters[2:])
    assert store.dead_letters.list_dead_letters() == letters
    assert store.dead_letters.list_dead_letters(limit=2) == letters[:2]
    assert store.dead_letters.list_dead_letters(since=T0 + 1) == letters[1:]
    assert store.dead_letters.list_dead_letters(limit=1, since=T0 + 1) == letters[1:2]
    assert store.dead_letters.count_dead_letters() == 3
    # The same message again (a file imported twice) is kept once; another reason is not.
    store.dead_letters.add_dead_letters([replace(letters[0], received_at=T0 + 9), letters[1]])
    store.dead_letters.add_dead_letters(
        [replace(letters[0], reason="other"), replace(letters[1], device="U-9")]
    )
    assert store.dead_letters.count_dead_letters() == 5
    assert store.dead_letters.list_dead_letters()[:3] == letters


def test_the_newest_dead_letters_are_listed_newest_first(store: Store) -> None:
    letters = [DeadLetter("mqtt", f"bad {n}", b"x", T0 + n, "U-1") for n in range(5)]
    store.dead_letters.add_dead_letters([letters[4], *letters[:4]])  # kept out of time order
    newest = store.dead_letters.list_dead_letters(limit=2, newest=True)
    assert newest == [letters[4], letters[3]]
    assert store.dead_letters.list_dead_letters(3, since=T0 + 2, newest=True) == letters[:1:-1]
    assert store.dead_letters.list_dead_letters(9, since=T0 + 5, newest=True) == []


# file revisions
def revision(number: int, status: str = "final", day: str = "2026-11-26") -> FileRevision:
    """Revision ``number`` of C1's file of ``day``."""
    name = f"C1_{day}.csv"
    return FileRevision("C1", day, number, status, name, "ab" * 32, f"C1/{name}", 3, 48, 47, T0)


def test_revisions_list_oldest_first_and_the_newest_can_change_status(store: Store) -> None:
    assert store.revisions.latest_revision("C1", "2026-11-26") is None
    store.revisions.add_revision(revision(1))
    store.revisions.add_revision(revision(2, "provisional"))
    store.revisions.add_revision(revision(1, day="2026-11-27"))
    assert store.revisions.latest_revision("C1", "2026-11-26") == revision(2, "provisional")
    store.revisions.add_revision(revision(2, "final"))
    assert store.revisions.list_revisions("C1", "2026-11-26") == [revision(1), revision(2, "final")]
    assert store.revisions.latest_revision("C1", "2026-11-26") == revision(2, "final")
    assert store.revisions.list_revisions("C2", "2026-11-26") == []


def test_one_export_of_a_customer_s_files_at_a_time(store: Store) -> None:
    """A second export of C1 waits for the first; an export of C2 does not."""
    entered: list[str] = []

    def export(customer: str) -> None:
        with store.revisions.exporting(customer):
            entered.append(customer)

    with store.revisions.exporting("C1"):
        export("C2")  # would wait forever if it waited for C1
        second = threading.Thread(target=export, args=("C1",))
        second.start()
        second.join(0.3)
        assert second.is_alive()  # waiting its turn
        entered.append("first C1")
    second.join(20)
    assert entered == ["C2", "first C1", "C1"]
    export("C1")  # let go once done


# the property: any sequence of batches
REGISTER = st.none() | st.integers(0, 2)
OFFERED = st.builds(
    Reading,
    st.sampled_from(["M1", "M2"]),
    st.sampled_from([T0, T0 + 900, T0 + 1800]),
    REGISTER,
    REGISTER,
)


def first_value_wins(
    batches: list[list[Reading]],
) -> tuple[dict[str, list[Reading]], list[StoreResult]]:
    """The reference: each register keeps the first value offered for it by a reading that
    contradicted nothing stored; a reading that contradicts a stored register is kept aside."""
    state: dict[tuple[str, int], Reading] = {}
    results = []
    for number, batch in enumerate(batches):
        stored = duplicates = 0
        conflicts = []
        for new in batch:
            if new.fwd is None and new.rev is None:  # carries nothing
                duplicates += 1
                continue
            old = state.get((new.meter, new.t))
            pairs = [] if old is None else [(old.fwd, new.fwd), (old.rev, new.rev)]
            if any(a is not None and b is not None and a != b for a, b in pairs):
                assert old is not None
                conflicts.append(
                    Conflict(new.meter, new.t, old.fwd, old.rev, new.fwd, new.rev, number)
                )
            elif old is not None and all(b is None or a is not None for a, b in pairs):
                duplicates += 1
            else:
                base = old or new
                fwd = new.fwd if base.fwd is None else base.fwd
                state[new.meter, new.t] = Reading(
                    new.meter, new.t, fwd, new.rev if base.rev is None else base.rev
                )
                stored += 1
        results.append(StoreResult(stored, duplicates, tuple(conflicts)))
    held: dict[str, list[Reading]] = {}
    for key in sorted(state):
        held.setdefault(key[0], []).append(state[key])
    return held, results


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(OFFERED, max_size=8), max_size=5))
def test_any_batches_keep_the_first_value_of_each_register(
    new_store: StoreFactory, batches: list[list[Reading]]
) -> None:
    # new_store gives each example its own empty store, so the fixture being per test is fine.
    store = new_store()
    held, expected = first_value_wins(batches)
    results = [store.readings.add_readings(batch, received_at=n) for n, batch in enumerate(batches)]
    assert results == expected
    for batch, result in zip(batches, results, strict=True):
        assert result.stored + result.duplicates + len(result.conflicts) == len(batch)
    assert dict(store.readings.readings_between(["M1", "M2"], T0, T0 + 1800)) == held
    kept: dict[tuple[object, ...], Conflict] = {}  # a conflict that comes again is kept once
    for c in (c for r in expected for c in r.conflicts):
        kept.setdefault((c.meter, c.t, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev), c)
    assert store.readings.list_conflicts() == list(kept.values())
    store.close()


# SQLite only
def test_sqlite_keeps_everything_across_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    store = registered(SqliteStore(path))
    store.registry.save_meters([Meter("M1", "D1", SPEC, 5000)])
    store.readings.add_readings(
        [Reading("M1", T0, 100, None), Reading("M2", T0, 5, 5)], received_at=T0
    )
    store.readings.add_readings([Reading("M2", T0, 6, 5)], received_at=T0 + 60)
    store.dead_letters.add_dead_letters([DeadLetter("mqtt", "not JSON", b"\x00{", T0, "U-1")])
    store.revisions.add_revision(revision(1))
    store.close()

    again = SqliteStore(path)
    try:
        assert [c.id for c in again.registry.list_customers()] == ["C1", "C2"]
        assert again.registry.list_devices("C1") == [Device("D1", "C1"), Device("D3", "C1")]
        assert again.registry.list_meters("C1") == [Meter("M1", "D1", SPEC, 5000)]
        assert day_of(again, "M1", "M2") == {
            "M1": [Reading("M1", T0, 100, None)],
            "M2": [Reading("M2", T0, 5, 5)],
        }
        assert again.readings.list_conflicts() == [Conflict("M2", T0, 5, 5, 6, 5, T0 + 60)]
        assert again.dead_letters.list_dead_letters() == [
            DeadLetter("mqtt", "not JSON", b"\x00{", T0, "U-1")
        ]
        assert again.revisions.list_revisions("C1", "2026-11-26") == [revision(1)]
        redelivered = [Reading("M1", T0, 100, 7), Reading("M2", T0, 5, 5)]
        assert again.readings.add_readings(redelivered, T0 + 90) == StoreResult(
            stored=1, duplicates=1
        )
    finally:
        again.close()


def test_sqlite_a_batch_is_committed_when_add_readings_returns(tmp_path: Path) -> None:
    writer = SqliteStore(tmp_path / "kenshin.db")
    reader = SqliteStore(tmp_path / "kenshin.db")  # another connection, as another process
    try:
        writer.readings.add_readings([Reading("M1", T0, 100, 0)], received_at=T0)
        assert day_of(reader, "M1") == {"M1": [Reading("M1", T0, 100, 0)]}
    finally:
        writer.close()
        reader.close()


@pytest.mark.integration
def test_sqlite_a_batch_survives_the_process_dying_right_after(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    crash = (
        "import os, sys\n"
        "from kenshin.adapters.sqlite import SqliteStore\n"
        "from kenshin.domain.model import Reading\n"
        "store = SqliteStore(sys.argv[1])\n"
        f"store.readings.add_readings([Reading('M1', {T0}, 100, 0)], received_at={T0})\n"
        "os._exit(0)  # no close, no clean-up\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(path)], check=True, timeout=60)
    store = SqliteStore(path)
    assert day_of(store, "M1") == {"M1": [Reading("M1", T0, 100, 0)]}
    store.close()


def test_sqlite_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "kenshin.db")
    # A time SQLite cannot hold fails the batch inside its transaction.
    unstorable = [Reading("M9", T0, 1, 0), Reading("M9", 2**64, 2, 0)]
    with pytest.raises(OverflowError):
        store.readings.add_readings(unstorable, received_at=T0)
    assert day_of(store, "M9") == {}
    assert store.readings.add_readings(unstorable[:1], received_at=T0) == StoreResult(stored=1)
    assert day_of(store, "M9") == {"M9": unstorable[:1]}
    store.close()


def test_sqlite_in_memory_store_holds_data_until_closed() -> None:
    store = SqliteStore.in_memory()
    store.readings.add_readings([Reading("M1", T0, 1, 0), Reading("M1", T0, 2, 0)], received_at=T0)
    assert day_of(store, "M1") == {"M1": [Reading("M1", T0, 1, 0)]}
    assert store.readings.list_conflicts() == [Conflict("M1", T0, 1, 0, 2, 0, T0)]
    store.close()


def test_sqlite_serves_several_threads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "kenshin.db")
    meters = [f"M{n}" for n in range(4)]

    def deliver(meter: str) -> None:
        for slot in range(0, 48, 8):
            batch = [Reading(meter, T0 + 1800 * (slot + i), slot + i, 0) for i in range(8)]
            assert store.readings.add_readings(batch, received_at=T0) == StoreResult(stored=8)

    threads = [threading.Thread(target=deliver, args=(m,)) for m in meters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = dict(store.readings.readings_between(meters, T0, T0 + 86_400))
    store.close()
    assert {m: len(found) for m, found in held.items()} == dict.fromkeys(meters, 48)


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    path.write_bytes(b"meter readings, honest" * 200)
    with pytest.raises(StoreError, match=r"opening .*kenshin\.db failed: file is not a database"):
        SqliteStore(path)


def test_sqlite_refuses_a_schema_newer_than_it_knows(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    SqliteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this kenshin knows"):
        SqliteStore(path)


def test_sqlite_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "kenshin.db")
    store.close()
    with pytest.raises(StoreError, match=r"reading customers failed: .*closed"):
        store.registry.list_customers()
