"""Ingest: registry checks, meter discovery, idempotent storage, dead letters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import postgres_url
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.echonet import (
    EPC_DIGITS,
    EPC_FIXED_TIME_FWD,
    EPC_FIXED_TIME_REV,
    EPC_HISTORY_FWD,
    EPC_PRODUCTION_NUMBER,
    EPC_UNIT,
)
from kenshin.domain.echonet_encoding import (
    edt_fixed_time,
    edt_history,
    edt_uint8,
    encode_echonet,
)
from kenshin.domain.model import Customer, Device, MeterSpec, Reading
from kenshin.ports import Store
from kenshin.services.ingest import Incoming, Ingest, PayloadKind

T0 = 1_795_663_800  # 2026-11-26T12:30:00+09:00


def message(
    device: str = "U-1",
    meter: str = "M-1",
    fwd: int = 100,
    unit: str = "0.1kWh",
    seq: int = 1,
    sent: str = "2026-11-26T12:30:04+09:00",
) -> bytes:
    document: dict[str, Any] = {
        "v": 1,
        "device": device,
        "seq": seq,
        "sent": sent,
        "meters": [
            {
                "meter": meter,
                "unit": unit,
                "coefficient": 1,
                "digits": 6,
                "readings": [{"t": "2026-11-26T12:30:00+09:00", "fwd": fwd, "rev": 0}],
            }
        ],
    }
    return json.dumps(document).encode()


def incoming(payload: bytes, line: int = 1) -> Incoming:
    return Incoming(f"test:{line}", payload, T0 + 10)


def registry(store: Store) -> Store:
    store.registry.add_customer(Customer("C-1", "one"))
    store.registry.add_customer(Customer("C-2", "two"))
    store.registry.add_device(Device("U-1", "C-1"))
    store.registry.add_device(Device("U-2", "C-1"))
    store.registry.add_device(Device("U-9", "C-2"))
    return store


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The registry above in each store backend in turn: with PostgreSQL, a batch that
    changes meters is looked at again under the lock of meters' changes."""
    opened: Store
    if request.param == "postgres":
        request.getfixturevalue("postgres_database")
        opened = PostgresStore(postgres_url(tmp_path), create=True, max_connections=3)
    elif request.param == "memory":
        opened = MemoryStore()
    else:
        opened = SqliteStore(tmp_path / "k.db")
    yield registry(opened)
    opened.close()


def test_readings_of_a_registered_device_are_stored_and_its_meter_discovered(store: Store) -> None:
    summary = Ingest(store).ingest([incoming(message())])
    assert (summary.messages, summary.stored, summary.dead_letters) == (1, 1, 0)
    meter = store.registry.get_meter("M-1")
    assert meter is not None
    assert (meter.device, meter.spec) == ("U-1", MeterSpec(100_000, 1, 6))
    assert list(store.readings.readings_between(["M-1"], T0, T0)) == [
        ("M-1", [Reading("M-1", T0, 100, 0)])
    ]


def test_a_meter_reporting_a_reverse_register_is_registered_with_one_for_good(
    store: Store,
) -> None:
    forward_only = json.loads(message(seq=1))
    del forward_only["meters"][0]["readings"][0]["rev"]
    ingest = Ingest(store)
    ingest.ingest([incoming(json.dumps(forward_only).encode())])
    assert store.registry.get_meter("M-1").reverse is False  # type: ignore[union-attr]
    Ingest(store).ingest([incoming(message(fwd=101, seq=2), line=2)])
    assert store.registry.get_meter("M-1").reverse is True  # type: ignore[union-attr]
    ingest.ingest([incoming(json.dumps(forward_only).encode(), line=3)])  # a cache that knew not
    assert store.registry.get_meter("M-1").reverse is True  # type: ignore[union-attr]


def test_same_message_twice_is_a_duplicate_and_a_new_value_a_conflict(store: Store) -> None:
    ingest = Ingest(store)
    summary = ingest.ingest([incoming(message()), incoming(message(), 2)])
    summary = ingest.ingest([incoming(message(fwd=101), 3)], summary)
    assert (summary.stored, summary.duplicates, summary.conflicts) == (1, 1, 1)
    [(_, [reading])] = list(store.readings.readings_between(["M-1"], T0, T0))
    assert reading.fwd == 100
    [conflict] = store.readings.list_conflicts()
    assert (conflict.stored_fwd, conflict.new_fwd) == (100, 101)


def test_of_two_conflicting_messages_the_one_sent_first_is_kept_whichever_came_first(
    store: Store,
) -> None:
    ingest = Ingest(store)
    later = message(fwd=107, seq=2, sent="2026-11-26T13:30:04+09:00")
    ingest.ingest([incoming(later)])  # the first message waited somewhere: the later came first
    summary = ingest.ingest([incoming(message(fwd=100, seq=1), 2)])
    assert summary.conflicts == 1
    [(_, [reading])] = list(store.readings.readings_between(["M-1"], T0, T0))
    assert reading.fwd == 100
    [conflict] = store.readings.list_conflicts()
    assert (conflict.stored_fwd, conflict.new_fwd) == (100, 107)  # kept, and the other


def test_a_reading_dated_in_the_future_is_quarantined_and_the_rest_stored(store: Store) -> None:
    document = json.loads(message())
    document["meters"][0]["readings"].append({"t": "2026-11-26T13:00:00+09:00", "fwd": 110})
    payload = json.dumps(document).encode()
    # Received at 12:54:59: 13:00 is 301 s ahead, beyond the 300 s a clock may be fast.
    summary = Ingest(store).ingest([Incoming("mqtt", payload, T0 + 1499)])
    assert (summary.stored, summary.quarantined, summary.dead_letters) == (1, 1, 1)
    assert list(store.readings.readings_between(["M-1"], T0, T0 + 1800)) == [
        ("M-1", [Reading("M-1", T0, 100, 0)])
    ]
    [letter] = store.dead_letters.list_dead_letters()
    assert letter.payload == payload
    assert letter.reason == (
        "1 reading(s) dated more than 300 s after receipt at 2026-11-26T03:54:59Z,"
        " quarantined and not used (the first: M-1 at 2026-11-26T04:00:00Z):"
        " is the unit's clock right?"
    )
    # Received at 12:55:00, the same reading is in time.
    summary = Ingest(store).ingest([Incoming("mqtt", payload, T0 + 1500)])
    assert (summary.stored, summary.duplicates, summary.quarantined) == (1, 1, 0)


def test_a_meter_read_only_ahead_of_time_is_not_registered_until_a_reading_in_time(
    store: Store,
) -> None:
    ahead = Ingest(store).ingest([Incoming("mqtt", message(meter="M-7"), T0 - 3600)])
    assert (ahead.quarantined, ahead.meters_discovered) == (1, 0)
    assert store.registry.get_meter("M-7") is None
    Ingest(store).ingest([incoming(message(meter="M-7"))])
    meter = store.registry.get_meter("M-7")
    assert meter is not None
    assert meter.installed_at == T0  # in service from its first reading in time


def test_a_meter_of_another_customer_dated_ahead_still_refuses_the_message(store: Store) -> None:
    Ingest(store).ingest([Incoming("a", message(device="U-9", meter="M-9"), T0 + 10)])
    document = json.loads(message(meter="M-1"))
    other = json.loads(message(device="U-9", meter="M-9"))["meters"][0]
    other["readings"][0]["t"] = "2026-11-27T12:30:00+09:00"  # a day ahead
    document["meters"].append(other)
    summary = Ingest(store).ingest([Incoming("b", json.dumps(document).encode(), T0 + 10)])
    assert (summary.stored, summary.dead_letters, summary.quarantined) == (0, 1, 0)
    assert "meter 'M-9' belongs to device 'U-9' of customer 'C-2'" in reasons(store)[-1]
    assert store.registry.get_meter("M-1") is None  # the message is used whole or not at all


def test_unknown_device_is_a_dead_letter_that_says_how_to_register_it(store: Store) -> None:
    summary = Ingest(store).ingest([incoming(message(device="U-404"))])
    assert (summary.stored, summary.dead_letters) == (0, 1)
    [letter] = store.dead_letters.list_dead_letters()
    assert "kenshin devices add U-404 --customer" in letter.reason
    assert letter.payload == message(device="U-404")
    assert store.registry.get_meter("M-1") is None


def test_changed_unit_of_a_known_meter_is_a_dead_letter(store: Store) -> None:
    ingest = Ingest(store)
    ingest.ingest([incoming(message())])
    summary = ingest.ingest([incoming(message(unit="0.01kWh"), 2)])
    assert summary.dead_letters == 1
    [letter] = store.dead_letters.list_dead_letters()
    assert "reported unit 0.01kWh" in letter.reason
    assert "registered with unit 0.1kWh" in letter.reason


def test_a_meter_of_one_customer_cannot_be_reported_by_another_customers_device(
    store: Store,
) -> None:
    ingest = Ingest(store)
    ingest.ingest([incoming(message())])
    summary = ingest.ingest([incoming(message(device="U-9"), 2)])
    assert summary.dead_letters == 1
    assert "cannot report it" in store.dead_letters.list_dead_letters()[0].reason
    meter = store.registry.get_meter("M-1")
    assert meter is not None
    assert meter.device == "U-1"


def test_a_meter_moved_to_another_device_of_the_same_customer_follows_it(store: Store) -> None:
    ingest = Ingest(store)
    first = json.loads(message(fwd=90, sent="2026-11-26T12:00:04+09:00"))
    first["meters"][0]["readings"][0]["t"] = "2026-11-26T12:00:00+09:00"
    ingest.ingest([incoming(json.dumps(first).encode())])
    ingest.ingest([incoming(message(device="U-2"), 2)])  # read later there
    meter = store.registry.get_meter("M-1")
    assert meter is not None
    assert meter.device == "U-2"
    ingest.ingest([incoming(json.dumps(first).encode(), 3)])  # the first unit's, again: older
    assert store.registry.get_meter("M-1") == meter


def test_transport_identity_must_match_the_message(store: Store) -> None:
    item = Incoming("mqtt", message(device="U-2"), T0, device="U-1")
    summary = Ingest(store).ingest([item])
    assert summary.dead_letters == 1
    assert (
        "names device 'U-2' but was sent by 'U-1'"
        in store.dead_letters.list_dead_letters()[0].reason
    )


def test_bad_lines_do_not_stop_good_ones_in_the_same_batch(store: Store) -> None:
    batch = [incoming(b"garbage", 1), incoming(message(), 2), incoming(b"{}", 3)]
    summary = Ingest(store).ingest(batch)
    assert (summary.messages, summary.stored, summary.dead_letters) == (3, 1, 2)
    assert [d.source for d in store.dead_letters.list_dead_letters()] == ["test:1", "test:3"]


# --- ECHONET Lite frames, and which meter a frame is for --------------------------------------


def serial(text: str) -> tuple[int, bytes]:
    return EPC_PRODUCTION_NUMBER, text.encode().ljust(12, b"\0")


AT_1230 = datetime(2026, 11, 26, 12, 30)  # meter wall time of T0
SPEC = [(EPC_UNIT, edt_uint8(0x01)), (EPC_DIGITS, edt_uint8(6))]
YESTERDAY = (EPC_HISTORY_FWD, edt_history(1, list(range(1000, 1048))))  # 2026-11-25, 48 slots
FULL = [serial("P-123"), *SPEC, YESTERDAY]


def frame(*properties: tuple[int, bytes], device: str = "U-1") -> Incoming:
    """An INF frame from ``device``, received ten minutes after T0."""
    payload = encode_echonet(list(properties), esv=0x73)
    return Incoming(f"mqtt:{device}", payload, T0 + 600, PayloadKind.ECHONET, device)


def fixed_fwd(value: int) -> tuple[int, bytes]:
    return EPC_FIXED_TIME_FWD, edt_fixed_time(AT_1230, value)


def at_t0(store: Store, *meters: str) -> list[tuple[str, list[Reading]]]:
    return list(store.readings.readings_between(meters, T0, T0))


def reasons(store: Store) -> list[str]:
    return [letter.reason for letter in store.dead_letters.list_dead_letters()]


def test_echonet_frames_store_the_same_readings_as_json(store: Store) -> None:
    ingest = Ingest(store)
    summary = ingest.ingest([frame(*SPEC, YESTERDAY)])
    assert (summary.stored, summary.dead_letters) == (48, 0)
    meter = store.registry.get_meter("U-1")
    assert meter is not None
    assert meter.spec == MeterSpec(100_000, 1, 6)
    midnight = T0 - 45_000 - 86_400  # 2026-11-25T00:00+09:00
    [(_, readings)] = list(store.readings.readings_between(["U-1"], midnight, midnight + 86_400))
    assert readings[0] == Reading("U-1", midnight, 1000, None)
    assert readings[-1] == Reading("U-1", midnight + 47 * 1800, 1047, None)
    # A later frame without E1/D7 uses the registered spec.
    assert ingest.ingest([frame(YESTERDAY)]).duplicates == 48


def test_registers_only_frames_are_stored_under_the_meter_the_full_frame_registered(
    store: Store,
) -> None:
    assert Ingest(store).ingest([frame(*FULL)]).stored == 48
    assert store.registry.list_meters(device_id="U-1") == [store.registry.get_meter("P-123")]
    summary = Ingest(store).ingest([frame(fixed_fwd(1055))])  # as after a restart
    assert (summary.stored, summary.dead_letters, summary.meters_discovered) == (1, 0, 0)
    assert at_t0(store, "P-123", "U-1") == [("P-123", [Reading("P-123", T0, 1055, None)])]
    assert store.registry.get_meter("U-1") is None


def test_a_full_frame_and_a_registers_only_frame_in_one_batch_land_on_one_meter(
    store: Store,
) -> None:
    today = (EPC_HISTORY_FWD, edt_history(0, [*range(2000, 2026), *[None] * 22]))
    summary = Ingest(store).ingest([frame(*FULL), frame(today)])
    assert (summary.stored, summary.dead_letters, summary.meters_discovered) == (74, 0, 1)
    assert at_t0(store, "P-123", "U-1") == [("P-123", [Reading("P-123", T0, 2025, None)])]
    assert [m.id for m in store.registry.list_meters(device_id="U-1")] == ["P-123"]


def test_registers_only_frame_of_a_device_without_meters_is_a_dead_letter(store: Store) -> None:
    summary = Ingest(store).ingest([frame(fixed_fwd(5))])
    assert (summary.stored, summary.dead_letters) == (0, 1)
    assert reasons(store) == [
        "meter 'U-1' is not known yet and the message does not say its unit and digits: "
        "the unit must send them (ECHONET Lite E1 and D7) once"
    ]


def test_after_a_meter_exchange_only_frames_with_the_production_number_are_used(
    store: Store,
) -> None:
    ingest = Ingest(store)
    ingest.ingest([frame(*FULL), frame(serial("P-456"), *SPEC, fixed_fwd(7))])
    assert [m.id for m in store.registry.list_meters(device_id="U-1")] == ["P-123", "P-456"]
    summary = ingest.ingest([frame(fixed_fwd(8))])
    assert (summary.stored, summary.dead_letters) == (0, 1)
    assert reasons(store) == [
        "the frame has no production number (EPC 0x8D) and device 'U-1' has several meters "
        "('P-123', 'P-456'), so which meter its registers belong to cannot be told; after a "
        "meter exchange the unit must send 0x8D with its registers"
    ]
    summary = ingest.ingest([frame(serial("P-789"), *SPEC, fixed_fwd(9))])
    assert (summary.stored, summary.dead_letters, summary.meters_discovered) == (1, 0, 1)
    assert at_t0(store, "P-123", "P-456", "P-789") == [
        ("P-456", [Reading("P-456", T0, 7, None)]),
        ("P-789", [Reading("P-789", T0, 9, None)]),
    ]
    ingest.ingest([frame(fixed_fwd(10))])
    assert "several meters ('P-123', 'P-456', 'P-789')" in reasons(store)[1]


def test_a_meter_exchange_is_recorded_and_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ingest = Ingest(store)
    ingest.ingest([incoming(message(meter="M-OLD", fwd=100))])
    later = message(meter="M-NEW", fwd=5, seq=2, sent="2026-11-26T12:30:09+09:00")
    with caplog.at_level(logging.INFO, logger="kenshin.services.ingest"):
        ingest.ingest([incoming(later, 2)])
    old, new = store.registry.get_meter("M-OLD"), store.registry.get_meter("M-NEW")
    assert old is not None
    assert new is not None
    assert (old.removed_at, new.installed_at) == (T0, T0)
    logged = [r.getMessage() for r in caplog.records if "exchanged" in r.getMessage()]
    assert logged == ["meter M-OLD of unit U-1 exchanged for M-NEW at 2026-11-26T03:30:00Z"]


def test_a_meter_moved_in_the_batch_leaves_its_old_device(store: Store) -> None:
    ingest = Ingest(store)
    ingest.ingest([frame(*FULL)])
    moved = incoming(message(device="U-2", meter="P-123", fwd=1060), 2)  # same spec as FULL
    summary = ingest.ingest([moved, frame(fixed_fwd(1061))])
    assert (summary.stored, summary.dead_letters) == (1, 1)
    assert "meter 'U-1' is not known yet" in reasons(store)[0]
    summary = ingest.ingest([frame(fixed_fwd(1060), device="U-2"), frame(fixed_fwd(1062))])
    assert (summary.duplicates, summary.dead_letters) == (1, 1)
    assert [m.id for m in store.registry.list_meters(device_id="U-2")] == ["P-123"]


@pytest.mark.parametrize(
    ("epc", "direction"), [(EPC_FIXED_TIME_FWD, "fwd"), (EPC_FIXED_TIME_REV, "rev")]
)
def test_registers_beyond_the_registered_digits_are_a_dead_letter(
    store: Store, epc: int, direction: str
) -> None:
    ingest = Ingest(store)
    ingest.ingest([frame(*FULL)])
    summary = ingest.ingest([frame((epc, edt_fixed_time(AT_1230, 1_000_000)))])
    assert (summary.stored, summary.dead_letters) == (0, 1)
    assert reasons(store) == [
        f"meter 'P-123' {direction} register 1000000 at 2026-11-26T03:30:00Z does not fit "
        "the meter's 6 digits; it must be below 1,000,000"
    ]
    assert at_t0(store, "P-123") == []
    assert ingest.ingest([frame((epc, edt_fixed_time(AT_1230, 999_999)))]).stored == 1


def test_json_registers_beyond_the_digits_are_a_dead_letter(store: Store) -> None:
    summary = Ingest(store).ingest([incoming(message(fwd=1_000_000))])
    assert (summary.stored, summary.dead_letters, summary.meters_discovered) == (0, 1, 0)
    assert reasons(store) == ["meters[0].readings[0].fwd: 1000000 is out of range 0..999999"]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=300))
def test_any_property_list_is_used_whole_or_kept_as_a_dead_letter(opc: int, body: bytes) -> None:
    store = registry(MemoryStore())
    ingest = Ingest(store)
    ingest.ingest([frame(*FULL)])
    payload = encode_echonet([])[:11] + bytes((opc,)) + body
    summary = ingest.ingest([Incoming("fuzz", payload, T0, PayloadKind.ECHONET, "U-1")])
    letters = store.dead_letters.list_dead_letters()
    assert summary.dead_letters == len(letters) <= 1
    assert summary.stored == 0 or not letters
    assert [letter.payload for letter in letters] in ([], [payload])
