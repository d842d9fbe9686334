"""VEE in the customer files: gaps estimated exactly and flagged, replaced when the
readings come, per-customer settings, provisional days, NEM12 quality, the config."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from kenshin.adapters.outbox import LocalOutbox
from kenshin.config import load_settings
from kenshin.domain.model import Customer, FileRevision, Layout, Meter, MeterSpec, Reading
from kenshin.domain.slots import day_slots, zone
from kenshin.domain.vee import VeeSettings
from kenshin.errors import ConfigError
from kenshin.services import aggregate, change_records
from kenshin.services.export import ExportSettings, export_day
from kenshin.services.replay import Replayed, replay
from test_export import (
    ACME,
    DAY,
    FINAL_AT,
    NAME,
    SLOTS,
    SPEC,
    boundary_readings,
    make_store,
    manifest_of,
)

STEP = 12  # register steps of 0.1 kWh a slot: 1.2 kWh


def file_rows(outbox: LocalOutbox, name: str = NAME) -> dict[str, list[str]]:
    content = outbox.read("C1", name)
    assert content is not None
    rows = [line.split(",") for line in content.decode().split("\r\n")[1:] if line]
    return {row[0]: row for row in rows}


def test_a_short_gap_is_split_evenly_from_the_registers_and_flagged_e(tmp_path: Path) -> None:
    store = make_store()
    # M-2 misses the readings at boundaries 10 and 11, and its register jumps 1.3 kWh
    # more over the gap: 3 slots share 3.6 + 1.3 = 4.9 kWh.
    m2 = [r for r in boundary_readings("M-2") if SLOTS.boundary_index(r.t) not in (10, 11)]
    m2 = [
        r if r.t < SLOTS.start + 12 * 1800 else Reading(r.meter, r.t, (r.fwd or 0) + 13, None)
        for r in m2
    ]
    store.readings.add_readings(boundary_readings("M-1") + m2, 0)
    outbox = LocalOutbox(tmp_path)
    outcome = export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    row = file_rows(outbox)["M-2"]
    # 4.9 kWh in whole Wh (the file shows 3 decimals): the remainder to the first slot.
    assert row[3 + 9 : 3 + 12] == ["1.634", "1.633", "1.633"]
    assert row[-1] == "A" * 9 + "EEE" + "A" * 36
    assert row[-2] == "58.900"  # the day's total equals the register difference
    assert (outcome.actual_slots, outcome.slots) == (93, 96)
    manifest = manifest_of(outbox)
    assert (manifest["estimated_slots"], manifest["actual_slots"]) == (3, 93)


def test_estimates_are_replaced_when_the_readings_arrive(tmp_path: Path) -> None:
    store = make_store()
    store.readings.add_readings(boundary_readings("M-1") + boundary_readings("M-2", skip=[20]), 0)
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    assert file_rows(outbox)["M-2"][-1][19:21] == "EE"
    store.readings.add_readings(
        [Reading("M-2", SLOTS.start + 20 * 1800, 5_000 + 20 * STEP, None)], 1
    )
    outcome = export_day(store, outbox, ACME, DAY, now=FINAL_AT + 60)
    assert (outcome.revision, outcome.changed) == (2, True)
    assert file_rows(outbox)["M-2"][-1] == "A" * 48
    assert manifest_of(outbox)["estimated_slots"] == 0


def test_a_customer_who_takes_no_estimates_gets_no_value_there(tmp_path: Path) -> None:
    store = make_store()
    store.readings.add_readings(boundary_readings("M-1") + boundary_readings("M-2", skip=[20]), 0)
    outbox = LocalOutbox(tmp_path)
    settings = ExportSettings(vee_customers={"C1": VeeSettings(write_estimates=False)})
    export_day(store, outbox, ACME, DAY, now=FINAL_AT, settings=settings)
    row = file_rows(outbox)["M-2"]
    assert row[3 + 19 : 3 + 21] == ["", ""]
    assert row[-1][19:21] == "NN"
    assert manifest_of(outbox)["estimated_slots"] == 0


def test_a_provisional_day_estimates_only_slots_that_have_ended(tmp_path: Path) -> None:
    store = make_store()
    # Readings up to 10:00 local (boundary 20) for M-1; M-2 silent since 08:00 (boundary 16).
    store.readings.add_readings(
        boundary_readings("M-1", skip=range(21, 49)) + boundary_readings("M-2", skip=range(17, 49)),
        0,
    )
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY, now=SLOTS.start + 20 * 1800 + 60)
    rows = file_rows(outbox)
    assert rows["M-1"][-1] == "A" * 20 + "N" * 28  # after 10:00: not yet, never estimated
    # M-2's 08:00-10:00 has no history to estimate from and no end: no value.
    assert rows["M-2"][-1] == "A" * 16 + "N" * 32


def test_a_long_gap_follows_the_like_days_and_adds_up_to_the_registers(tmp_path: Path) -> None:
    store = make_store()
    week_before = day_slots(DAY - timedelta(weeks=1), zone("Asia/Tokyo"))
    # A week before, M-2 used 1 step a slot at night (slots 0-23) and 3 steps by day.
    register, history = 1_000, []
    for i, t in enumerate(week_before.boundaries):
        history.append(Reading("M-2", t, register, None))
        register += 1 if i < 24 else 3
    store.readings.add_readings(history, 0)
    # Today M-2 misses boundaries 21..26 (a 7-slot gap over slots 20..26) and the gap
    # holds 28 steps: in proportion 1,1,1,1,3,3,3 of 13 parts.
    today = [
        Reading("M-2", t, 10_000 + i * 2 + (14 if i >= 27 else 0), None)
        for i, t in enumerate(SLOTS.boundaries)
        if not 21 <= i <= 26
    ]
    store.readings.add_readings(boundary_readings("M-1") + today, 1)
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    row = file_rows(outbox)["M-2"]
    gap = [int(v.replace(".", "")) for v in row[3 + 20 : 3 + 27]]  # in Wh
    assert sum(gap) == 2_800
    assert row[-1][20:27] == "E" * 7
    # Running weights 1, 2, 3, 4, 7, 10, 13: floor(2800 x running / 13) in Wh.
    assert gap == [215, 215, 216, 215, 646, 646, 647]


def test_a_reading_that_came_again_with_another_value_makes_its_slots_q(tmp_path: Path) -> None:
    store = make_store()
    store.readings.add_readings(boundary_readings("M-1") + boundary_readings("M-2"), 0)
    result = store.readings.add_readings([Reading("M-2", SLOTS.start + 10 * 1800, 1, None)], 1)
    assert len(result.conflicts) == 1  # kept aside; the first value stays
    outbox = LocalOutbox(tmp_path)
    outcome = export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    rows = file_rows(outbox)
    assert rows["M-2"][-1] == "A" * 9 + "QQ" + "A" * 37  # the slots on both sides of it
    assert rows["M-2"][3 + 9 : 3 + 11] == ["1.200", "1.200"]  # measured values kept
    assert rows["M-1"][-1] == "A" * 48
    assert outcome.actual_slots == 96  # questionable slots are measured ones


def test_nem12_shows_estimates_as_substituted_with_their_method(tmp_path: Path) -> None:
    customer = Customer("C1", "Acme", layout=Layout.NEM12)
    store = make_store(customer)
    store.readings.add_readings(boundary_readings("M-1") + boundary_readings("M-2", skip=[20]), 0)
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, customer, DAY, now=FINAL_AT)
    content = outbox.read("C1", NAME)
    assert content is not None
    text = content.decode()
    # A substitution carries its reason, as MDFF requires for S: 85, data missing.
    assert "400,1,19,A,,\r\n400,20,21,S17,85,\r\n400,22,48,A,,\r\n" in text
    assert text.count("400,") == 3  # M-1 is all actual: no 400 record


def test_vee_settings_in_the_config_are_checked_at_start(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text('[vee.customers]\n"C-001" = { spike_percent = 5 }\n')
    with pytest.raises(ConfigError, match=r"vee\.customers\.C-001\.spike_percent: expected"):
        load_settings(path, environ={})
    path.write_text("[vee.defaults]\nspike = 300\n")
    with pytest.raises(ConfigError, match=r"vee\.defaults\.spike: unknown VEE setting"):
        load_settings(path, environ={})
    path.write_text('[vee.defaults]\nwrite_estimates = false\n[vee.customers]\n"C-1" = {}\n')
    vee = load_settings(path, environ={}).vee
    assert vee.settings_for("C-1").write_estimates is False
    assert vee.settings_for("C-1") == VeeSettings(write_estimates=False)


def test_a_late_backlog_restates_a_final_day_in_exactly_its_slots(tmp_path: Path) -> None:
    store = make_store()
    offline = range(11, 20)  # M-2 silent from boundary 11 to 19: slots 10 to 19 lack values
    store.readings.add_readings(
        boundary_readings("M-1") + boundary_readings("M-2", skip=offline), 0
    )
    outbox = LocalOutbox(tmp_path)
    first = export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    assert (first.revision, first.status) == (1, "final")
    before = file_rows(outbox)
    assert before["M-2"][-1] == "A" * 10 + "N" * 10 + "A" * 28  # no history: no estimate
    backlog = [r for r in boundary_readings("M-2") if SLOTS.boundary_index(r.t) in offline]
    store.readings.add_readings(backlog, FINAL_AT + 86_400)  # the unit came back a day later
    second = export_day(store, outbox, ACME, DAY, now=FINAL_AT + 86_400)
    assert (second.revision, second.status) == (2, "final")
    assert manifest_of(outbox)["restated"] is True
    after = file_rows(outbox)
    assert after["M-1"] == before["M-1"]
    changed = [i for i in range(48) if before["M-2"][3 + i] != after["M-2"][3 + i]]
    assert changed == list(range(10, 20))  # exactly the slots the backlog covered
    assert after["M-2"][-1] == "A" * 48
    record = NAME + ".rev2.changes.csv"
    assert (manifest_of(outbox)["changed_slots"], manifest_of(outbox)["change_record"]) == (
        10,
        record,
    )
    content = outbox.read("C1", record)
    assert content is not None
    lines = content.decode().split("\r\n")
    assert lines[0] == "meter,direction,slot_start,previous_kwh,previous_quality,kwh,quality,reason"
    assert lines[1:] == [
        f"M-2,fwd,2026-11-26T{h:02d}:{m:02d}:00+09:00,,N,1.200,A,late reading filled the gap"
        for h, m in ((slot // 2, slot % 2 * 30) for slot in range(10, 20))
    ] + [""]
    # The outbox made anew (a disk lost): every file of the day comes back, byte for byte.
    published = {name: outbox.read("C1", name) for name in outbox.list_files("C1")}
    shutil.rmtree(tmp_path / "C1")
    again = export_day(store, outbox, ACME, DAY, now=FINAL_AT + 2 * 86_400)
    assert (again.revision, again.changed) == (2, True)
    assert {name: outbox.read("C1", name) for name in outbox.list_files("C1")} == published


def test_a_change_record_that_cannot_be_made_again_is_tried_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    store.readings.add_readings(boundary_readings("M-1") + boundary_readings("M-2", skip=[5]), 0)
    outbox = LocalOutbox(tmp_path)
    export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    store.readings.add_readings(boundary_readings("M-2")[5:6], FINAL_AT + 60)
    assert export_day(store, outbox, ACME, DAY, now=FINAL_AT + 3600).revision == 2
    (tmp_path / "C1" / (NAME + ".rev2.changes.csv")).unlink()
    replays: list[int] = []
    made_again = replay

    def unlike(store: object, revision: FileRevision) -> Replayed:  # rules changed since
        replays.append(revision.revision)
        return replace(made_again(store, revision), content=b"made otherwise")  # type: ignore[arg-type]

    monkeypatch.setattr(change_records, "replay", unlike)
    monkeypatch.setattr(change_records, "_UNMADE", set())  # this process's, this test's
    for run in range(3):
        export_day(store, outbox, ACME, DAY, now=FINAL_AT + 7200 + run)
    assert replays == [1]
    assert NAME + ".rev2.changes.csv" not in outbox.list_files("C1")


@pytest.mark.parametrize("layout", list(Layout))
def test_each_layout_gets_a_change_record_of_exactly_the_changed_slots(
    tmp_path: Path, layout: Layout
) -> None:
    customer = Customer("C1", "Acme", layout=layout, encoding="cp932")
    store = make_store(customer)
    store.readings.add_readings(
        boundary_readings("M-1") + boundary_readings("M-2", skip=[20, 30]), 0
    )
    outbox = LocalOutbox(tmp_path)
    # Provisional at 12:00 (slots 0-23 reported: 20 is missing), final at the day's end.
    export_day(store, outbox, customer, DAY, now=SLOTS.start + 24 * 1800)
    export_day(store, outbox, customer, DAY, now=FINAL_AT)
    assert manifest_of(outbox)["changed_slots"] == 0  # slots 24-47 were only filled in
    late = [r for r in boundary_readings("M-2") if SLOTS.boundary_index(r.t) in (20, 30)]
    store.readings.add_readings(late, FINAL_AT + 60)
    export_day(store, outbox, customer, DAY, now=FINAL_AT + 120)
    manifest = manifest_of(outbox)
    record = outbox.read("C1", str(manifest["change_record"]))
    assert record is not None
    lines = record.decode().split("\r\n")[1:-1]
    assert lines == [
        f"M-2,fwd,2026-11-26T{s // 2:02d}:{s % 2 * 30:02d}:00+09:00,1.200,E,1.200,A,"
        "late reading replaced the estimate"
        for s in (19, 20, 29, 30)
    ]
    assert manifest["changed_slots"] == 4


def test_meters_computed_a_part_at_a_time_make_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meters = [Meter(f"M-{n}", "U-1", SPEC) for n in range(1, 6)]
    store = make_store(meters=meters)
    store.readings.add_readings(
        boundary_readings("M-1")
        + boundary_readings("M-2", skip=[20])  # a gap: estimated
        + boundary_readings("M-3")
        + boundary_readings("M-4", skip=range(30, 49))  # silent: no value
        + boundary_readings("M-5"),
        0,
    )
    store.readings.add_readings([Reading("M-3", SLOTS.start + 10 * 1800, 1, None)], 1)  # Q
    whole, parts = LocalOutbox(tmp_path / "whole"), LocalOutbox(tmp_path / "parts")
    export_day(store, whole, ACME, DAY, now=FINAL_AT)
    monkeypatch.setattr(aggregate, "COMPUTE_CHUNK", 2)  # parts of 2, 2 and 1 meters
    export_day(store, parts, ACME, DAY, now=FINAL_AT)
    assert parts.read("C1", NAME) == whole.read("C1", NAME)
    flags = {meter: row[-1] for meter, row in file_rows(parts).items()}
    assert flags["M-2"][19:21] == "EE"
    assert flags["M-3"][9:11] == "QQ"
    assert flags["M-4"] == "A" * 29 + "N" * 19
    assert flags["M-1"] == flags["M-5"] == "A" * 48


@pytest.mark.parametrize("part", [1, 2, aggregate.COMPUTE_CHUNK])
def test_a_meter_too_large_for_vee_goes_without_it_alone_wherever_parts_are_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: int
) -> None:
    """A high-voltage meter's register turn could overflow int64 over a day: its own
    slots are read as stored, gaps and all; the customer's other meters are validated."""
    big = MeterSpec(unit_mwh=10**12, coefficient=1, digits=6)
    meters = [Meter("M-1", "U-1", SPEC), Meter("M-2", "U-1", big), Meter("M-3", "U-1", SPEC)]
    store = make_store(meters=meters)
    store.readings.add_readings(
        boundary_readings("M-1", skip=[10])
        + boundary_readings("M-2", skip=[30])
        + boundary_readings("M-3", skip=[20]),
        0,
    )
    monkeypatch.setattr(aggregate, "COMPUTE_CHUNK", part)
    outbox = LocalOutbox(tmp_path)
    outcome = export_day(store, outbox, ACME, DAY, now=FINAL_AT)
    rows = file_rows(outbox)
    assert rows["M-1"][-1] == "A" * 9 + "EE" + "A" * 37
    assert rows["M-2"][-1] == "A" * 29 + "NN" + "A" * 17
    assert rows["M-3"][-1] == "A" * 19 + "EE" + "A" * 27
    assert rows["M-1"][3 + 9 : 3 + 11] == rows["M-3"][3 + 19 : 3 + 21] == ["1.200", "1.200"]
    assert rows["M-2"][3 + 29 : 3 + 31] == ["", ""]
    assert outcome.estimated_slots == 4
