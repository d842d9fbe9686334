"""Ingest: registry checks, meter discovery, idempotent storage, dead letters."""

from __future__ import annotations

import json
from typing import Any

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.echonet import (
    EPC_DIGITS,
    EPC_HISTORY_FWD,
    EPC_UNIT,
    edt_history,
    edt_uint8,
    encode_echonet,
)
from kenshin.domain.model import Customer, Device, MeterSpec, Reading
from kenshin.services.ingest import Incoming, Ingest, PayloadKind

T0 = 1_795_663_800  # 2026-11-26T12:30:00+09:00


def message(
    device: str = "U-1", meter: str = "M-1", fwd: int = 100, unit: str = "0.1kWh", seq: int = 1
) -> bytes:
    document: dict[str, Any] = {
        "v": 1,
        "device": device,
        "seq": seq,
        "sent": "2026-11-26T12:30:04+09:00",
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


def registry() -> MemoryStore:
    store = MemoryStore()
    store.add_customer(Customer("C-1", "one"))
    store.add_customer(Customer("C-2", "two"))
    store.add_device(Device("U-1", "C-1"))
    store.add_device(Device("U-2", "C-1"))
    store.add_device(Device("U-9", "C-2"))
    return store


def test_readings_of_a_registered_device_are_stored_and_its_meter_discovered() -> None:
    store = registry()
    summary = Ingest(store).ingest([incoming(message())])
    assert (summary.messages, summary.stored, summary.dead_letters) == (1, 1, 0)
    meter = store.get_meter("M-1")
    assert meter is not None
    assert (meter.device, meter.spec) == ("U-1", MeterSpec(100_000, 1, 6))
    assert list(store.readings_between(["M-1"], T0, T0)) == [("M-1", [Reading("M-1", T0, 100, 0)])]


def test_same_message_twice_is_a_duplicate_and_a_new_value_a_conflict() -> None:
    store = registry()
    ingest = Ingest(store)
    summary = ingest.ingest([incoming(message()), incoming(message(), 2)])
    summary = ingest.ingest([incoming(message(fwd=101), 3)], summary)
    assert (summary.stored, summary.duplicates, summary.conflicts) == (1, 1, 1)
    [(_, [reading])] = list(store.readings_between(["M-1"], T0, T0))
    assert reading.fwd == 100
    [conflict] = store.list_conflicts()
    assert (conflict.stored_fwd, conflict.new_fwd) == (100, 101)


def test_unknown_device_is_a_dead_letter_that_says_how_to_register_it() -> None:
    store = registry()
    summary = Ingest(store).ingest([incoming(message(device="U-404"))])
    assert (summary.stored, summary.dead_letters) == (0, 1)
    [letter] = store.list_dead_letters()
    assert "kenshin devices add U-404 --customer" in letter.reason
    assert letter.payload == message(device="U-404")
    assert store.get_meter("M-1") is None


def test_changed_unit_of_a_known_meter_is_a_dead_letter() -> None:
    store = registry()
    ingest = Ingest(store)
    ingest.ingest([incoming(message())])
    summary = ingest.ingest([incoming(message(unit="0.01kWh"), 2)])
    assert summary.dead_letters == 1
    [letter] = store.list_dead_letters()
    assert "reported unit 0.01kWh" in letter.reason
    assert "registered with unit 0.1kWh" in letter.reason


def test_a_meter_of_one_customer_cannot_be_reported_by_another_customers_device() -> None:
    store = registry()
    ingest = Ingest(store)
    ingest.ingest([incoming(message())])
    summary = ingest.ingest([incoming(message(device="U-9"), 2)])
    assert summary.dead_letters == 1
    assert "cannot report it" in store.list_dead_letters()[0].reason
    meter = store.get_meter("M-1")
    assert meter is not None
    assert meter.device == "U-1"


def test_a_meter_moved_to_another_device_of_the_same_customer_follows_it() -> None:
    store = registry()
    ingest = Ingest(store)
    ingest.ingest([incoming(message())])
    ingest.ingest([incoming(message(device="U-2"), 2)])
    meter = store.get_meter("M-1")
    assert meter is not None
    assert meter.device == "U-2"


def test_transport_identity_must_match_the_message() -> None:
    store = registry()
    item = Incoming("mqtt", message(device="U-2"), T0, device="U-1")
    summary = Ingest(store).ingest([item])
    assert summary.dead_letters == 1
    assert "names device 'U-2' but was sent by 'U-1'" in store.list_dead_letters()[0].reason


def test_bad_lines_do_not_stop_good_ones_in_the_same_batch() -> None:
    store = registry()
    batch = [incoming(b"garbage", 1), incoming(message(), 2), incoming(b"{}", 3)]
    summary = Ingest(store).ingest(batch)
    assert (summary.messages, summary.stored, summary.dead_letters) == (3, 1, 2)
    assert [d.source for d in store.list_dead_letters()] == ["test:1", "test:3"]


def echonet_frame(*, with_spec: bool) -> bytes:
    history = list(range(1000, 1048))
    properties = [(EPC_HISTORY_FWD, edt_history(1, history))]  # yesterday's 48 registers
    if with_spec:
        properties = [(EPC_UNIT, edt_uint8(0x01)), (EPC_DIGITS, edt_uint8(6)), *properties]
    return encode_echonet(properties)


def test_echonet_frames_store_the_same_readings_as_json() -> None:
    store = registry()
    ingest = Ingest(store)
    received = T0 + 600  # 2026-11-26 12:40 in Tokyo: history day 1 is 2026-11-25
    spec_frame = Incoming(
        "mqtt", echonet_frame(with_spec=True), received, PayloadKind.ECHONET, "U-1"
    )
    summary = ingest.ingest([spec_frame])
    assert (summary.stored, summary.dead_letters) == (48, 0)
    meter = store.get_meter("U-1")
    assert meter is not None
    assert meter.spec == MeterSpec(100_000, 1, 6)
    midnight = T0 - 45_000 - 86_400  # 2026-11-25T00:00+09:00
    [(_, readings)] = list(store.readings_between(["U-1"], midnight, midnight + 86_400))
    assert readings[0] == Reading("U-1", midnight, 1000, None)
    assert readings[-1] == Reading("U-1", midnight + 47 * 1800, 1047, None)
    # A later frame without E1/D7 uses the registered spec.
    bare = Incoming("mqtt", echonet_frame(with_spec=False), received, PayloadKind.ECHONET, "U-1")
    assert ingest.ingest([bare]).duplicates == 48


def test_echonet_frame_of_an_unknown_meter_without_its_unit_is_a_dead_letter() -> None:
    store = registry()
    frame = Incoming("mqtt", echonet_frame(with_spec=False), T0, PayloadKind.ECHONET, "U-1")
    summary = Ingest(store).ingest([frame])
    assert summary.dead_letters == 1
    assert "E1 and D7" in store.list_dead_letters()[0].reason
