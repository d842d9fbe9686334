"""Export of customer day files: content, revisions, provisional/final, manifests, retention."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.csvfiles import render_day
from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W
from kenshin.domain.made_with import MadeWith, made_with_json
from kenshin.domain.manifest import completeness
from kenshin.domain.model import (
    Customer,
    Device,
    FileRevision,
    FlagColumns,
    Labels,
    Layout,
    Meter,
    MeterSpec,
    Reading,
)
from kenshin.domain.slots import day_slots, zone
from kenshin.errors import ExportError
from kenshin.services.aggregate import aggregate_day
from kenshin.services.export import (
    ExportSettings,
    days_to_export,
    export_day,
    file_name,
    remove_expired,
)
from kenshin.services.replay import replay

DAY = date(2026, 11, 26)
SLOTS = day_slots(DAY, zone("Asia/Tokyo"))
SPEC = MeterSpec(unit_mwh=100_000, coefficient=1, digits=6)  # 0.1 kWh steps
NOON = SLOTS.start + 12 * 3600
FINAL_AT = SLOTS.end + 6 * 3600
NAME = "C1_20261126.csv"
ACME = Customer("C1", "Acme")


def make_store(cust: Customer = ACME, meters: Sequence[Meter] = ()) -> MemoryStore:
    store = MemoryStore()
    store.registry.add_customer(cust)
    store.registry.add_device(Device("U-1", cust.id))
    store.registry.save_meters(meters or [Meter("M-1", "U-1", SPEC), Meter("M-2", "U-1", SPEC)])
    return store


def boundary_readings(meter: str, skip: Sequence[int] = (), step: int = 12) -> list[Reading]:
    """Forward register readings on every boundary of DAY but the skipped ones: ``step`` a slot."""
    return [
        Reading(meter, t, 5_000 + i * step, None)
        for i, t in enumerate(SLOTS.boundaries)
        if i not in skip
    ]


def filled_store(cust: Customer = ACME) -> MemoryStore:
    """M-1 complete (1.2 kWh a slot); M-2 lacks the closing reading, so its last slot is N."""
    store = make_store(cust)
    store.readings.add_readings(boundary_readings("M-1") + boundary_readings("M-2", skip=[48]), 0)
    return store


def manifest_of(outbox: LocalOutbox, name: str = NAME) -> dict[str, object]:
    content = outbox.read("C1", name + ".manifest.json")
    assert content is not None
    assert content.endswith(b"}\n")
    parsed: dict[str, object] = json.loads(content)
    assert content == (json.dumps(parsed, sort_keys=True, indent=2) + "\n").encode()
    return parsed


def test_first_export_publishes_the_file_and_its_manifest(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)
    outcome = export_day(filled_store(), outbox, ACME, DAY, now=NOON)
    assert (outcome.revision, outcome.status, outcome.changed) == (1, "provisional", True)
    assert (outcome.rows, outcome.slots, outcome.actual_slots) == (2, 96, 95)
    content = outbox.read("C1", NAME)
    assert content is not None
    lines = content.decode().split("\r\n")
    assert lines[1] == "M-1,2026-11-26,fwd," + ",".join(["1.200"] * 48) + ",57.600," + "A" * 48
    assert lines[2] == "M-2,2026-11-26,fwd," + "1.200," * 47 + ",56.400," + "A" * 47 + "N"
    assert lines[3:] == [""]
    assert manifest_of(outbox) == {
        "customer": "C1",
        "date": "2026-11-26",
        "file": NAME,
        "revision": 1,
        "status": "provisional",
        "restated": False,
        "rows": 2,
        "slots": 96,
        "actual_slots": 95,
        "estimated_slots": 0,
        "completeness": "98.96",
        "sha256": hashlib.sha256(content).hexdigest(),
        "layout": "wide",
        "encoding": "utf-8",
        "timezone": "Asia/Tokyo",
        "created_at": "2026-11-26T03:00:00Z",
        "generator": ExportSettings().generator,
        "changed_slots": 0,
        "change_record": None,
    }
    assert outbox.list_files("C1") == [NAME, NAME + ".manifest.json"]


@pytest.mark.parametrize("layout", list(Layout))
def test_same_data_again_makes_no_new_revision(tmp_path: Path, layout: Layout) -> None:
    cust = Customer("C1", "Acme", layout=layout)
    store, outbox = filled_store(cust), LocalOutbox(tmp_path)
    export_day(store, outbox, cust, DAY, now=NOON)
    before = outbox.read("C1", NAME), outbox.read("C1", NAME + ".manifest.json")
    inode = (tmp_path / "C1" / NAME).stat().st_ino
    again = export_day(store, outbox, cust, DAY, now=NOON + 1800)
    assert (again.revision, again.status, again.changed) == (1, "provisional", False)
    assert (outbox.read("C1", NAME), outbox.read("C1", NAME + ".manifest.json")) == before
    assert (tmp_path / "C1" / NAME).stat().st_ino == inode
    assert len(store.revisions.list_revisions("C1", "2026-11-26")) == 1


def test_new_data_makes_revision_2_and_updates_the_manifest(tmp_path: Path) -> None:
    store, outbox = filled_store(), LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY, now=NOON)
    store.readings.add_readings([Reading("M-2", SLOTS.end, 5_000 + 48 * 12, None)], NOON + 60)
    outcome = export_day(store, outbox, ACME, DAY, now=NOON + 1800)
    assert (outcome.revision, outcome.changed, outcome.actual_slots) == (2, True, 96)
    content = outbox.read("C1", NAME)
    assert content is not None
    assert content.decode().split("\r\n")[2].endswith(",57.600," + "A" * 48)
    manifest = manifest_of(outbox)
    assert manifest["revision"] == 2
    assert manifest["completeness"] == "100.00"
    assert manifest["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["created_at"] == "2026-11-26T03:30:00Z"
    assert [r.revision for r in store.revisions.list_revisions("C1", "2026-11-26")] == [1, 2]


def test_a_day_turns_final_after_the_grace_without_rewriting_the_file(tmp_path: Path) -> None:
    cust = Customer("C1", "Acme", layout=Layout.NEM12)  # NEM12 would show a rewrite in its stamps
    store, outbox = filled_store(cust), LocalOutbox(tmp_path)
    export_day(store, outbox, cust, DAY, now=NOON)
    published = outbox.read("C1", NAME)
    inode = (tmp_path / "C1" / NAME).stat().st_ino
    still = export_day(store, outbox, cust, DAY, now=FINAL_AT - 1)
    assert (still.status, still.changed) == ("provisional", False)
    final = export_day(store, outbox, cust, DAY, now=FINAL_AT)
    assert (final.revision, final.status, final.changed) == (1, "final", True)
    assert outbox.read("C1", NAME) == published
    assert (tmp_path / "C1" / NAME).stat().st_ino == inode  # not even rewritten
    manifest = manifest_of(outbox)
    assert (manifest["status"], manifest["revision"], manifest["restated"]) == ("final", 1, False)
    assert manifest["created_at"] == "2026-11-26T03:00:00Z"
    [revision] = store.revisions.list_revisions("C1", "2026-11-26")
    assert (revision.revision, revision.status) == (1, "final")
    assert not export_day(store, outbox, cust, DAY, now=FINAL_AT + 60).changed


def test_a_final_day_that_changes_is_restated(tmp_path: Path) -> None:
    store, outbox = filled_store(), LocalOutbox(tmp_path)
    assert export_day(store, outbox, ACME, DAY, now=FINAL_AT).status == "final"
    store.readings.add_readings([Reading("M-2", SLOTS.end, 5_000 + 48 * 12, None)], FINAL_AT + 60)
    outcome = export_day(store, outbox, ACME, DAY, now=FINAL_AT + 3600)
    assert (outcome.revision, outcome.status, outcome.changed) == (2, "final", True)
    manifest = manifest_of(outbox)
    assert (manifest["revision"], manifest["status"], manifest["restated"]) == (2, "final", True)
    statuses = [(r.revision, r.status) for r in store.revisions.list_revisions("C1", "2026-11-26")]
    assert statuses == [(1, "final"), (2, "final")]


def test_a_final_day_never_goes_back_to_provisional(tmp_path: Path) -> None:
    store, outbox = filled_store(), LocalOutbox(tmp_path)
    no_grace = ExportSettings(grace_hours=0)
    assert export_day(store, outbox, ACME, DAY, now=SLOTS.end, settings=no_grace).status == "final"
    store.readings.add_readings([Reading("M-2", SLOTS.end, 5_000 + 48 * 12, None)], SLOTS.end + 60)
    outcome = export_day(store, outbox, ACME, DAY, now=SLOTS.end + 120)  # within 6 h of grace
    assert (outcome.revision, outcome.status) == (2, "final")
    assert manifest_of(outbox)["restated"] is True


def test_a_lost_file_is_published_again_byte_for_byte(tmp_path: Path) -> None:
    cust = Customer("C1", "Acme", layout=Layout.NEM12)
    store, outbox = filled_store(cust), LocalOutbox(tmp_path)
    export_day(store, outbox, cust, DAY, now=NOON)
    published = outbox.read("C1", NAME)
    outbox.remove("C1", NAME)
    outcome = export_day(store, outbox, cust, DAY, now=NOON + 7200)
    assert (outcome.revision, outcome.changed) == (1, True)
    assert outbox.read("C1", NAME) == published


def test_a_silent_meter_shows_as_a_row_of_gaps(tmp_path: Path) -> None:
    store = make_store(meters=[Meter("M-1", "U-1", SPEC), Meter("M-9", "U-1", SPEC)])
    store.readings.add_readings(boundary_readings("M-1"), 0)
    outbox = LocalOutbox(tmp_path)
    outcome = export_day(store, outbox, ACME, DAY, now=NOON)
    assert (outcome.rows, outcome.actual_slots) == (2, 48)
    content = outbox.read("C1", NAME)
    assert content is not None
    assert content.decode().split("\r\n")[2] == "M-9,2026-11-26,fwd," + "," * 48 + "," + "N" * 48


def test_a_solar_meter_keeps_its_rev_row_on_a_silent_day() -> None:
    store, outbox = make_store(meters=[Meter("M-1", "U-1", SPEC)]), _MemoryOutbox()
    yesterday = [Reading("M-1", t - 86_400, 100, 7) for t in SLOTS.boundaries]
    store.readings.add_readings(yesterday, 0)
    outcome = export_day(store, outbox, ACME, DAY, now=NOON)  # nothing sent on DAY
    assert (outcome.rows, outcome.actual_slots) == (2, 0)
    content = outbox.read("C1", NAME)
    assert content is not None
    assert content.decode().split("\r\n")[2] == "M-1,2026-11-26,rev," + "," * 48 + "," + "N" * 48


def test_reverse_readings_add_a_rev_row(tmp_path: Path) -> None:
    store = make_store(meters=[Meter("M-1", "U-1", SPEC)])
    store.readings.add_readings(
        [Reading("M-1", t, 100, 7 + i // 2) for i, t in enumerate(SLOTS.boundaries)], 0
    )
    outbox = LocalOutbox(tmp_path)
    assert export_day(store, outbox, ACME, DAY, now=NOON).rows == 2
    content = outbox.read("C1", NAME)
    assert content is not None
    rev = content.decode().split("\r\n")[2].split(",")
    assert rev[:5] == ["M-1", "2026-11-26", "rev", "0.000", "0.100"]
    assert rev[-2] == "2.400"


@pytest.mark.parametrize(("max_demand_w", "first"), [(None, "1.000"), (1_000, "")])
def test_a_meters_own_max_demand_decides_a_rollover(
    tmp_path: Path, max_demand_w: int | None, first: str
) -> None:
    # Two digits wrap at 100 raw: 95 -> 5 is 1.0 kWh in 30 min (2 kW), above 1 kW.
    meter = Meter("M-1", "U-1", MeterSpec(100_000, 1, 2), max_demand_w)
    store = make_store(meters=[meter])
    store.readings.add_readings(
        [Reading("M-1", SLOTS.start, 95, None), Reading("M-1", SLOTS.start + 1800, 5, None)], 0
    )
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY, now=NOON)
    content = outbox.read("C1", NAME)
    assert content is not None
    assert content.decode().split("\r\n")[1].split(",")[3] == first


@cache
def reference_bytes() -> bytes:
    outbox = _MemoryOutbox()
    export_day(filled_store(), outbox, ACME, DAY, now=NOON)
    return outbox.files[NAME]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_duplicates_and_delivery_order_change_no_byte(data: st.DataObject) -> None:
    readings = boundary_readings("M-1") + boundary_readings("M-2", skip=[48])
    delivered = data.draw(st.permutations(readings + readings[::3]))
    cut = data.draw(st.integers(0, len(delivered)))
    store = make_store()
    store.readings.add_readings(delivered[:cut], 0)
    store.readings.add_readings(delivered[cut:], 1)
    outbox = _MemoryOutbox()
    export_day(store, outbox, ACME, DAY, now=NOON)
    assert outbox.files[NAME] == reference_bytes()


def test_retention_removes_exactly_the_days_older_than_45() -> None:
    store, outbox = make_store(), _MemoryOutbox()
    for back in range(50):  # each day exported on its own day
        export_day(store, outbox, ACME, DAY - timedelta(days=back), now=NOON - back * 86_400)
    outbox.publish("C1", "notes.txt", b"kept")
    outbox.publish("C1", "broken.manifest.json", b"{")
    outbox.publish("C1", "C1_20261010.csv.rev2.changes.csv", b"a change record")
    outbox.publish("C1", "C1_20261010.csv.revx.changes.csv", b"not one")
    removed = remove_expired(outbox, ACME, now=NOON, retention_days=45)
    expired = [f"C1_{DAY - timedelta(days=back):%Y%m%d}.csv" for back in range(46, 50)]
    expired_records = ["C1_20261010.csv.rev2.changes.csv"]
    assert sorted(removed) == sorted(
        expired + expired_records + [n + ".manifest.json" for n in expired]
    )
    left = outbox.list_files("C1")
    assert "C1_20261012.csv" in left  # 45 days before 2026-11-26: kept
    assert "C1_20261011.csv" not in left
    assert len(left) == 2 * 46 + 3
    assert remove_expired(outbox, ACME, now=NOON, retention_days=45) == []


def test_a_day_after_today_is_not_exported() -> None:
    store, outbox = make_store(), _MemoryOutbox()
    with pytest.raises(ExportError, match=r"2026-11-27 is after today \(2026-11-26 in Asia/Tokyo"):
        export_day(store, outbox, ACME, DAY + timedelta(days=1), now=NOON)
    assert outbox.list_files("C1") == []


def test_a_day_older_than_the_retention_is_not_exported() -> None:
    store, outbox = make_store(), _MemoryOutbox()
    with pytest.raises(ExportError, match=r"2026-10-11 is older than the 45-day retention"):
        export_day(store, outbox, ACME, DAY - timedelta(days=46), now=NOON)
    assert outbox.list_files("C1") == []
    export_day(store, outbox, ACME, DAY - timedelta(days=45), now=NOON)
    assert "C1_20261012.csv" in outbox.list_files("C1")


def test_file_names_follow_the_customers_pattern() -> None:
    cust = Customer("C1", "Acme", file_pattern="{customer}/{date:%Y-%m-%d}.csv")
    with pytest.raises(ExportError, match="path"):
        file_name(cust, DAY)
    with pytest.raises(ExportError, match="invalid"):
        file_name(Customer("C1", "Acme", file_pattern="{meter}.csv"), DAY)
    named = Customer("C1", "Acme", file_pattern="kenshin-{customer}-{date:%Y-%m-%d}.csv")
    assert file_name(named, DAY) == "kenshin-C1-2026-11-26.csv"


def test_days_to_export_are_today_and_recent_days_not_final(tmp_path: Path) -> None:
    store, outbox = make_store(), LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY - timedelta(days=2), now=FINAL_AT)
    export_day(store, outbox, ACME, DAY - timedelta(days=1), now=NOON - 86_400)
    assert days_to_export(store, ACME, now=NOON) == [
        DAY - timedelta(days=3),
        DAY - timedelta(days=1),
        DAY,
    ]


def test_an_unknown_time_zone_is_an_export_error(tmp_path: Path) -> None:
    cust = Customer("C1", "Acme", timezone="Mars/Olympus")
    with pytest.raises(ExportError, match="Mars/Olympus"):
        export_day(make_store(cust), LocalOutbox(tmp_path), cust, DAY, now=NOON)


@pytest.mark.parametrize(
    ("actual", "slots", "text"),
    [
        (95, 96, "98.96"),
        (96, 96, "100.00"),
        (0, 96, "0.00"),
        (0, 0, "0.00"),
        (1, 3, "33.33"),
        (2, 3, "66.67"),
        (1, 800, "0.13"),  # 0.125 rounds half up
        (99_999, 100_000, "99.99"),  # never 100.00 while a slot is missing
        (1, 100_000, "0.01"),  # never 0.00 while a slot has a value
    ],
)
def test_completeness_is_an_exact_two_decimal_percent(actual: int, slots: int, text: str) -> None:
    assert completeness(actual, slots) == text


class _MemoryOutbox:
    """Just enough Outbox for the property test (no disk per example)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def publish(self, customer_id: str, name: str, content: bytes) -> None:
        self.files[name] = content

    def read(self, customer_id: str, name: str) -> bytes | None:
        return self.files.get(name)

    def list_files(self, customer_id: str) -> list[str]:
        return sorted(self.files)

    def remove(self, customer_id: str, name: str) -> None:
        self.files.pop(name, None)


BERLIN_NEM12 = Customer("C1", "Acme", "Europe/Berlin", layout=Layout.NEM12)


@pytest.mark.parametrize(
    ("day", "first_slot"),
    [
        (date(2026, 10, 25), "2026-10-24T23:00:00+00:00"),  # the clocks go back: 50 local slots
        (date(2026, 3, 29), "2026-03-28T23:00:00+00:00"),  # the clocks go forward: 46
        (date(2026, 7, 1), "2026-06-30T23:00:00+00:00"),  # summer: 01:00 to 01:00 local
    ],
)
def test_nem12_days_are_48_half_hours_of_standard_time(
    tmp_path: Path, day: date, first_slot: str
) -> None:
    # Each UTC slot's energy tells it apart: the k-th half hour from BASE has k + 1 steps.
    base = int(datetime.fromisoformat(first_slot).timestamp()) - 2 * 3600
    store = make_store(BERLIN_NEM12, [Meter("M-1", "U-1", SPEC)])
    store.readings.add_readings(
        [Reading("M-1", base + k * 1800, 5_000 + k * (k + 1) // 2, None) for k in range(60)], 0
    )
    now = base + 3 * 86_400
    export_day(store, LocalOutbox(tmp_path), BERLIN_NEM12, day, now=now)
    content = LocalOutbox(tmp_path).read("C1", f"C1_{day:%Y%m%d}.csv")
    assert content is not None
    [record] = [r for r in content.decode().split("\r\n") if r.startswith("300,")]
    cells = record.split(",")
    # 48 values, the quality method right after them (where every NEM12 reader looks).
    assert cells[1] == f"{day:%Y%m%d}"
    assert cells[2:50] == [f"{(k + 1) // 10}.{(k + 1) % 10}00" for k in range(4, 52)]
    assert cells[50] == "A"
    assert len(cells) == 48 + 7  # what a NEM12 reader counts: 48 values and 7 other fields
    # Made again from what the revision was made with, byte for byte (kenshin replay).
    revision = store.revisions.latest_revision("C1", day.isoformat())
    assert revision is not None
    assert replay(store, revision).content == content


def test_new_settings_apply_to_new_files_only(tmp_path: Path) -> None:
    store, outbox = make_store(), LocalOutbox(tmp_path)
    store.readings.add_readings(boundary_readings("M-1", skip=[48]), 0)
    export_day(store, outbox, ACME, DAY, now=NOON)
    changed = replace(ACME, labels=Labels.JA, flags=FlagColumns.PER_SLOT, encoding="cp932")
    store.registry.update_customer(changed)
    store.readings.add_readings(boundary_readings("M-1")[48:], 0)  # the day's last reading, late
    again = export_day(store, outbox, changed, DAY, now=FINAL_AT)
    assert (again.revision, again.changed) == (2, True)
    content = outbox.read("C1", NAME)
    assert content is not None
    # The day already had a file: its new revision keeps the settings it was written with,
    # so that the customer's system reads it as before (and the change record is exact).
    assert content.decode("utf-8").startswith("meter,date,direction,00:00,00:30,")
    export_day(store, outbox, changed, DAY + timedelta(days=1), now=FINAL_AT)
    next_day = outbox.read("C1", "C1_20261127.csv")
    assert next_day is not None
    assert next_day.decode("cp932").startswith("計器ID,日付,方向,00:00,00:00 品質,00:30,")


SYDNEY_NEM12 = Customer("C2", "Acme", "Australia/Sydney", layout=Layout.NEM12)


def test_a_nem12_day_first_written_in_local_time_keeps_its_cut(tmp_path: Path) -> None:
    # A day written by a kenshin of rules version 1: cut as its local day (in summer,
    # 13:00Z to 13:00Z), its made_with saying neither its cut nor its rules version.
    day = date(2026, 12, 5)
    local = day_slots(day, zone("Australia/Sydney"))
    assert local.start == int(datetime(2026, 12, 4, 13, tzinfo=UTC).timestamp())
    base = local.start - 2 * 3600  # the k-th half hour from BASE has k + 1 steps of 0.1 kWh
    readings = [Reading("M-1", base + k * 1800, 5_000 + k * (k + 1) // 2, None) for k in range(60)]
    store, outbox = make_store(SYDNEY_NEM12, [Meter("M-1", "U-1", SPEC)]), LocalOutbox(tmp_path)
    first = local.start + 10 * 3600
    store.readings.add_readings([r for r in readings if r.t <= first], 0)
    days = aggregate_day(store, SYDNEY_NEM12, local, now=first, as_of=store.watermark())
    # Its bytes as kenshin wrote them then (a zone whose standard time is Sydney's summer
    # time cuts the same half hours; only the two publication stamps differ).
    summer = zone("Etc/GMT-11")
    then = replace(SYDNEY_NEM12, timezone="Etc/GMT-11")
    old = render_day(then, day_slots(day, summer), days, created_at=first)
    made = json.loads(made_with_json(MadeWith(SYDNEY_NEM12, None, DEFAULT_MAX_DEMAND_W)))
    made.pop("cut", None), made.pop("rules", None)
    name = "C2_20261205.csv"
    outbox.publish("C2", name, old.content)
    mark = store.watermark()
    store.revisions.add_revision(
        FileRevision(
            "C2",
            day.isoformat(),
            1,
            "provisional",
            name,
            old.sha256,
            old.content_key,
            old.rows,
            old.slots,
            old.actual_slots,
            first,
            as_of_batch=mark.batch,
            as_of_meter=mark.meter,
            made_with=json.dumps(made),
        )
    )
    # Upgraded: the rest of the day comes in, no reading changes.
    store.readings.add_readings([r for r in readings if r.t > first], 0)
    final = local.end + 7 * 3600
    no_vee = ExportSettings(vee=None)
    done = export_day(store, outbox, SYDNEY_NEM12, day, now=final, settings=no_vee)
    assert (done.revision, done.changed) == (2, True)
    content = outbox.read("C2", name)
    assert content is not None
    [record] = [r for r in content.decode().split("\r\n") if r.startswith("300,")]
    # The same UTC half hours as revision 1 (13:00Z on): none falls between two files.
    assert record.split(",")[2:50] == [f"{(k + 1) // 10}.{(k + 1) % 10}00" for k in range(4, 52)]
    revision = store.revisions.latest_revision("C2", day.isoformat())
    assert revision is not None
    # No reading changed: the change record lists nothing (and none is published).
    assert revision.changed_slots == 0
    assert not [f for f in outbox.list_files("C2") if f.endswith(".changes.csv")]
    assert json.loads(revision.made_with)["cut"] == "local"
    assert replay(store, revision).identical
    # A day without a file yet is cut in standard time (from 14:00Z in summer).
    export_day(store, outbox, SYDNEY_NEM12, day + timedelta(days=1), now=final)
    newer = store.revisions.latest_revision("C2", "2026-12-06")
    assert newer is not None
    assert json.loads(newer.made_with)["cut"] == "standard"
