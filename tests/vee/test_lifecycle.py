"""A meter's time in service: a unit that starts reporting a new meter in place of its
only one records an exchange; outside its time in service a meter's slots are N, never
estimated nor missing, and a day wholly outside has no row; an operator can set it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from conftest import kenshin, make_site
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Customer, Device
from kenshin.domain.slots import day_slots, zone
from kenshin.ports import Store
from kenshin.services.explain import explain_slot
from kenshin.services.export import ExportSettings, export_day
from kenshin.services.ingest import Incoming, Ingest
from kenshin.services.report import customer_quality

TZ = zone("Asia/Tokyo")
DAY = date(2026, 11, 26)  # the exchange, at 12:00 local
SLOTS = day_slots(DAY, TZ)
SWAP = SLOTS.start + 24 * 1800
CUSTOMER = Customer("C1", "First")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "k.db")
    opened.registry.add_customer(CUSTOMER)
    opened.registry.add_device(Device("U-1", "C1"))
    yield opened
    opened.close()


def message(meter: str, times: range, start: int = 5_000) -> bytes:
    """A v1 message of U-1 with ``meter``'s readings at ``times`` (0.1 kWh a slot)."""
    iso = [datetime.fromtimestamp(t, UTC).isoformat() for t in times]
    readings = [
        {"t": t, "fwd": start + (k - times[0]) // 1800} for t, k in zip(iso, times, strict=False)
    ]
    return json.dumps(
        {
            "v": 1,
            "device": "U-1",
            "seq": times[0],
            "sent": iso[-1],
            "meters": [
                {
                    "meter": meter,
                    "unit": "0.1kWh",
                    "coefficient": 1,
                    "digits": 6,
                    "readings": readings,
                }
            ],
        }
    ).encode()


def exchanged(store: Store) -> None:
    """Three weeks of M-1 (history for like days), then M-1 until 12:00 of DAY and its
    successor M-1-X1 from then on to the end of the next day."""
    history = range(SLOTS.start - 21 * 86_400, SWAP + 1, 1800)
    after = range(SWAP, SLOTS.end + 86_400 + 1, 1800)
    ingest = Ingest(store)
    ingest.ingest([Incoming("a", message("M-1", history), SWAP + 60)])
    ingest.ingest([Incoming("b", message("M-1-X1", after, 200), SLOTS.end + 86_400 + 60)])


def rows(outbox: LocalOutbox, day: date) -> dict[str, list[str]]:
    content = outbox.read("C1", f"C1_{day:%Y%m%d}.csv")
    assert content is not None
    lines = [line.split(",") for line in content.decode().split("\r\n")[1:-1]]
    return {row[0]: row for row in lines}


def test_a_new_meter_in_place_of_the_only_one_is_an_exchange(store: Store) -> None:
    exchanged(store)
    old, new = store.registry.get_meter("M-1"), store.registry.get_meter("M-1-X1")
    assert old is not None
    assert new is not None
    first = SLOTS.start - 21 * 86_400  # M-1's first reading: in service from then
    assert (old.installed_at, old.removed_at) == (first, SWAP)
    assert (new.installed_at, new.removed_at) == (SWAP, None)


def test_outside_its_time_in_service_a_meter_is_neither_missing_nor_estimated(
    store: Store, tmp_path: Path
) -> None:
    exchanged(store)
    outbox = LocalOutbox(tmp_path)
    now = SLOTS.end + 2 * 86_400
    export_day(store, outbox, CUSTOMER, DAY, now=now)
    day = rows(outbox, DAY)
    assert day["M-1"][-1] == "A" * 24 + "N" * 24  # history would estimate a plain gap
    assert day["M-1-X1"][-1] == "N" * 24 + "A" * 24
    assert day["M-1"][3 + 24 : 3 + 48] == [""] * 24
    why = explain_slot(store, ExportSettings(), "M-1", DAY, "18:00", now=now)
    assert why.rows[0].flag == "N"
    assert "missing" not in why.rows[0].reasons
    export_day(store, outbox, CUSTOMER, DAY + timedelta(days=1), now=now)
    assert set(rows(outbox, DAY + timedelta(days=1))) == {"M-1-X1"}  # M-1 has no row


def test_a_meter_that_reports_after_its_removal_was_not_removed(store: Store) -> None:
    exchanged(store)
    later = range(SWAP + 1800, SWAP + 4 * 1800, 1800)
    again = message("M-1", later, 5_000 + 24 * 21 * 2 + 25)
    Ingest(store).ingest([Incoming("c", again, later[-1] + 60)])  # not dated ahead: used
    old = store.registry.get_meter("M-1")
    assert old is not None
    assert old.removed_at is None  # a unit of two meters, not an exchange


def test_an_operator_sets_a_meters_time_in_service(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    fleet = site / "fleet.jsonl"
    fleet.write_bytes(message("M-1", range(SLOTS.start, SLOTS.end + 1, 1800)) + b"\n")
    assert "1 new meters" in kenshin(site, "import", str(fleet)).output
    done = kenshin(site, "meters", "service", "M-1", "--removed", "2026-11-26T12:00+09:00")
    assert done.exit_code == 0, done.output
    # In service from its first reading, as no one said when it was fitted.
    expected = "M-1: installed 2026-11-25 15:00:00, removed 2026-11-26 03:00:00 (UTC)\n"
    assert done.output == expected
    listed = kenshin(site, "meters", "list").output
    assert "2026-11-26T12:00+09:00" in listed
    bad = kenshin(site, "meters", "service", "M-1", "--installed", "2026-11-26T12:00")
    assert bad.exit_code == 2
    assert "has no UTC offset" in bad.output
    wrong = kenshin(site, "meters", "service", "M-1", "--installed", "2026-11-27T00:00+09:00")
    assert wrong.exit_code == 2
    assert "must be after --installed" in wrong.output
    back = kenshin(site, "meters", "service", "M-1", "--removed", "none", "--installed", "none")
    assert back.output == "M-1: installed unknown, in service (UTC)\n"


def test_an_exchange_seen_first_in_a_later_message_dates_from_the_earliest_reading(
    store: Store,
) -> None:
    history = range(SLOTS.start, SWAP + 1, 1800)
    Ingest(store).ingest([Incoming("a", message("M-1", history), SWAP)])
    both = json.loads(message("M-1", range(SWAP, SWAP + 1, 1800), 5_000 + 24))
    both["meters"] += json.loads(message("M-1-X1", range(SWAP, SWAP + 1, 1800), 200))["meters"]
    later = message("M-1-X1", range(SWAP + 4 * 1800, SWAP + 6 * 1800, 1800), 204)
    # One batch: the message naming both meters, then one naming the new meter alone.
    Ingest(store).ingest(
        [Incoming("b", json.dumps(both).encode(), SWAP + 60), Incoming("c", later, SWAP + 90)]
    )
    old, new = store.registry.get_meter("M-1"), store.registry.get_meter("M-1-X1")
    assert old is not None
    assert new is not None
    assert (old.removed_at, new.installed_at) == (SWAP, SWAP)


def both(old: range, new: range) -> bytes:
    """A v1 message of U-1 naming M-1 at ``old`` and M-1-X1 at ``new``."""
    document = json.loads(message("M-1", old, 5_000 + (old[0] - SLOTS.start) // 1800))
    document["meters"] += json.loads(message("M-1-X1", new, 200))["meters"]
    return json.dumps(document).encode()


def test_the_message_of_the_exchange_naming_both_meters_dates_it(store: Store) -> None:
    Ingest(store).ingest([Incoming("a", message("M-1", range(SLOTS.start, SWAP, 1800)), SWAP)])
    Ingest(store).ingest([Incoming("b", both(range(SWAP, SWAP + 1), range(SWAP, SWAP + 1)), SWAP)])
    old, new = store.registry.get_meter("M-1"), store.registry.get_meter("M-1-X1")
    assert old is not None
    assert new is not None
    assert (old.removed_at, new.installed_at) == (SWAP, SWAP)


def test_a_second_meter_that_reports_beside_the_first_is_no_exchange(store: Store) -> None:
    Ingest(store).ingest([Incoming("a", message("M-1", range(SLOTS.start, SWAP, 1800)), SWAP)])
    overlap = range(SWAP, SWAP + 4 * 1800, 1800)
    Ingest(store).ingest([Incoming("b", both(overlap, overlap), SWAP + 4 * 1800)])
    old, new = store.registry.get_meter("M-1"), store.registry.get_meter("M-1-X1")
    assert old is not None
    assert new is not None
    assert (old.removed_at, new.installed_at) == (None, SWAP)  # in service from its first


def test_a_new_meter_while_the_old_one_has_later_readings_stored_is_no_exchange(
    store: Store,
) -> None:
    through_next_day = range(SLOTS.start, SLOTS.end + 86_400 + 1, 1800)
    Ingest(store).ingest([Incoming("a", message("M-1", through_next_day), SLOTS.end + 86_400)])
    late_first = message("M-1-X1", range(SWAP, SWAP + 4 * 1800, 1800), 200)
    Ingest(store).ingest([Incoming("b", late_first, SLOTS.end + 86_400 + 60)])
    old = store.registry.get_meter("M-1")
    assert old is not None
    assert old.removed_at is None  # it reports on: a second meter, not its successor


def test_what_an_operator_set_is_not_overwritten_by_a_running_ingest(store: Store) -> None:
    ingest = Ingest(store)  # a server's, long running: it has M-1 cached
    ingest.ingest([Incoming("a", message("M-1", range(SLOTS.start, SWAP - 3600, 1800)), SWAP)])
    store.registry.set_service([("M-1", None, SWAP - 3600)])  # kenshin meters service, meanwhile
    ingest.ingest([Incoming("b", message("M-1-X1", range(SWAP, SWAP + 1801, 1800), 200), SWAP)])
    old = store.registry.get_meter("M-1")
    assert old is not None
    assert old.removed_at == SWAP - 3600


def test_a_meter_out_of_service_for_every_whole_slot_has_no_row(
    store: Store, tmp_path: Path
) -> None:
    Ingest(store).ingest([Incoming("a", message("M-1", range(SLOTS.start, SWAP, 1800)), SWAP)])
    store.registry.set_service([("M-1", None, SLOTS.start + 600)])  # 00:10: not one whole slot
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, CUSTOMER, DAY, now=SLOTS.end + 86_400)
    assert rows(outbox, DAY) == {}


def test_the_report_counts_no_slot_of_an_exchange_nor_of_a_removed_meter_as_missing(
    store: Store,
) -> None:
    exchanged(store)
    now = SLOTS.end + 2 * 86_400
    swap_day = customer_quality(store, CUSTOMER, DAY, now=now)
    assert (swap_day.meters, swap_day.problems) == (2, ())  # each served half the day
    next_day = customer_quality(store, CUSTOMER, DAY + timedelta(days=1), now=now)
    assert (next_day.meters, next_day.problems) == (1, ())  # M-1 was taken out: no row


def test_a_meter_that_starts_reporting_on_day_three_has_no_row_before(
    store: Store, tmp_path: Path
) -> None:
    store.registry.add_device(Device("U-2", "C1"))
    day_1, day_3 = SLOTS.start - 2 * 86_400, SLOTS.start
    ingest = Ingest(store)
    ingest.ingest([Incoming("a", message("M-1", range(day_1, SLOTS.end + 1, 1800)), SLOTS.end)])
    late = message("M-2", range(day_3, SLOTS.end + 1, 1800)).replace(b'"U-1"', b'"U-2"')
    ingest.ingest([Incoming("b", late, SLOTS.end)])
    outbox, now = LocalOutbox(tmp_path), SLOTS.end + 86_400
    for offset in (2, 1, 0):
        day = DAY - timedelta(days=offset)
        export_day(store, outbox, CUSTOMER, day, now=now)
        assert set(rows(outbox, day)) == ({"M-1"} if offset else {"M-1", "M-2"}), day
        quality = customer_quality(store, CUSTOMER, day, now=now)
        assert (quality.problems, quality.silent) == ((), {}), day  # U-2 is not silent


def test_explain_says_a_slot_outside_a_meters_time_in_service_has_no_row(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    fleet = site / "fleet.jsonl"
    history = range(SLOTS.start - 86_400, SWAP + 1, 1800)
    after = range(SWAP, SLOTS.end + 86_400 + 1, 1800)
    fleet.write_bytes(message("M-1", history) + b"\n" + message("M-1-X1", after, 200) + b"\n")
    assert kenshin(site, "import", str(fleet)).exit_code == 0
    span = "(from 2026-11-25T00:00:00+09:00 to 2026-11-26T12:00:00+09:00)"
    next_day = kenshin(site, "explain", "M-1", "--slot", "2026-11-27 10:00").output.splitlines()
    assert f"  no row: outside the meter's time in service {span}" in next_day
    same_day = kenshin(site, "explain", "M-1", "--slot", "2026-11-26 18:00").output.splitlines()
    assert f"  fwd: no value, flag N: outside the meter's time in service {span}" in same_day
    before = kenshin(site, "explain", "M-1-X1", "--slot", "2026-11-25 10:00").output.splitlines()
    since = "(from 2026-11-26T12:00:00+09:00 to now)"
    assert f"  no row: outside the meter's time in service {since}" in before


def test_a_removal_set_by_an_operator_is_not_undone_by_later_readings(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    fleet = site / "fleet.jsonl"
    fleet.write_bytes(message("M-1", range(SLOTS.start, SWAP + 1, 1800)) + b"\n")
    assert kenshin(site, "import", str(fleet)).exit_code == 0
    done = kenshin(site, "meters", "service", "M-1", "--removed", "2026-11-26T12:00+09:00")
    assert done.exit_code == 0, done.output
    later = range(SWAP + 1800, SWAP + 4 * 1800, 1800)
    fleet.write_bytes(message("M-1", later, 5_000 + 25) + b"\n")
    imported = kenshin(site, "import", str(fleet)).output
    assert "3 stored" in imported  # the readings are kept
    assert (
        "3 readings after their meter was taken out of service by an operator:"
        " stored, outside its time in service (M-1)"
    ) in imported
    listed = kenshin(site, "meters", "list").output
    assert "2026-11-26T12:00+09:00" in listed  # still removed


def test_an_operators_removal_holds_while_an_inferred_one_follows_the_readings(
    store: Store,
) -> None:
    running = Ingest(store)  # a server's: it has M-1 cached in service
    running.ingest([Incoming("a", message("M-1", range(SLOTS.start, SWAP + 1, 1800)), SWAP)])
    store.registry.set_service([("M-1", None, SWAP)], by_operator=True)  # kenshin meters service
    later = range(SWAP + 1800, SWAP + 4 * 1800, 1800)
    running.ingest([Incoming("b", message("M-1", later, 5_000 + 25), SWAP + 7200)])
    ingest = Ingest(store)  # a server started since
    summary = ingest.ingest([Incoming("b", message("M-1", later, 5_000 + 25), SWAP + 7200)])
    assert summary.outside_service == 3
    old = store.registry.get_meter("M-1")
    assert old is not None
    assert old.removed_at == SWAP
    store.registry.set_service([("M-1", None, SWAP)], by_operator=False)  # as ingest infers one
    Ingest(store).ingest([Incoming("c", message("M-1", later, 5_000 + 25), SWAP + 7200)])
    old = store.registry.get_meter("M-1")
    assert old is not None
    assert old.removed_at is None
