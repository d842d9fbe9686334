"""Meters' times in service do not depend on the order their unit's messages arrive in:
an import in parts, a cluster's workers and a unit's backlog all deliver out of order, and
an exchange must be found all the same."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from itertools import pairwise, permutations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.lifecycle import Span
from kenshin.domain.model import Customer, Device, Reading, StoreResult
from kenshin.services.incoming import Incoming
from kenshin.services.ingest import Ingest
from kenshin.sim.faults import FAULTS
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.transmission import fleet_lines

DEVICES = 16
T, H = 1_795_663_800, 1800  # 2026-11-26T03:30Z; a half hour


@cache
def fleet(seed: int) -> tuple[bytes, ...]:
    spec = FleetSpec(DEVICES, 2, date(2026, 11, 1), seed=seed, faults=frozenset(FAULTS))
    return tuple(line.encode() for line, _ in fleet_lines(spec))


def spans(lines: tuple[bytes, ...], order: list[int], batch: int) -> dict[str, Span]:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "one"))
    for n in range(DEVICES):
        store.registry.add_device(Device(f"U-{n + 1:06d}", "C-1"))
    ingest = Ingest(store)
    for start in range(0, len(order), batch):
        ingest.ingest(
            Incoming(f"f:{i}", lines[i], 1_800_000_000, live=False)
            for i in order[start : start + batch]
        )
    return {m.id: (m.installed_at, m.removed_at) for m in store.registry.list_meters()}


@given(
    st.integers(0, 3),
    st.randoms(use_true_random=False),
    st.sampled_from([1, 9, 60, 400]),
    st.sampled_from([1, 2, 3]),
)
@settings(max_examples=30, deadline=None)
def test_spans_are_the_same_whatever_the_order_of_arrival(
    seed: int, rnd: random.Random, batch: int, parts: int
) -> None:
    lines = fleet(seed)
    in_order = spans(lines, list(range(len(lines))), 200)
    assert any(removed is not None for _, removed in in_order.values())  # an exchange
    order = list(range(len(lines)))
    if parts == 1:
        rnd.shuffle(order)
    else:  # parts of the file, their batches interleaved as processes' are
        cuts = [len(order) * k // parts for k in range(parts + 1)]
        queues = [order[a:b] for a, b in pairwise(cuts)]
        order = []
        while any(queues):
            queue = rnd.choice([q for q in queues if q])
            order.extend(queue[:batch])
            del queue[:batch]
    assert spans(lines, order, batch) == in_order


def unit_message(meters: dict[str, list[int]], unit: str = "U-000001") -> bytes:
    """A message of ``unit`` with readings of ``meters`` at half hours from T."""
    blocks = [
        {
            "meter": meter,
            "unit": "0.1kWh",
            "coefficient": 1,
            "digits": 6,
            "readings": [
                {"t": datetime.fromtimestamp(T + k * H, UTC).isoformat(), "fwd": 100 + k, "rev": 0}
                for k in slots
            ],
        }
        for meter, slots in meters.items()
    ]
    sent = datetime.fromtimestamp(T + max(max(s) for s in meters.values()) * H + 4, UTC)
    return json.dumps(
        {"v": 1, "device": unit, "seq": 1, "sent": sent.isoformat(), "meters": blocks}
    ).encode()


A, B, FUTURE = "M-A", "M-B", 20_000  # a slot over a year ahead of the receipt
Slots = tuple[int, int | None]
UNITS: dict[
    str, tuple[list[dict[str, list[int]]], dict[str, Slots]]
] = {  # messages in time order, and the spans they leave in half hours from T
    "exchange": ([{A: [0]}, {A: [1]}, {A: [2], B: [2]}, {B: [3]}], {A: (0, 2), B: (2, None)}),
    "exchange in a backlog": (
        [{A: [0]}, {A: [1, 2], B: [2, 3]}, {B: [4]}],
        {A: (0, 2), B: (2, None)},
    ),
    "an exchange seen in no message of both": (
        [{A: [0]}, {A: [1]}, {B: [2]}, {B: [3]}],
        {A: (0, 2), B: (2, None)},
    ),
    "two meters": ([{A: [0, 1], B: [0, 1]}, {A: [2], B: [2]}], {A: (0, None), B: (0, None)}),
    "a second meter fitted later": (
        [{A: [0]}, {A: [1], B: [1]}, {A: [2], B: [2]}],
        {A: (0, None), B: (1, None)},
    ),
    "a reading dated ahead after an exchange": (
        [{A: [0]}, {A: [2], B: [2]}, {A: [FUTURE]}],
        {A: (0, 2), B: (2, None)},
    ),
}


@pytest.mark.parametrize("unit", UNITS)
def test_a_units_meters_are_the_same_in_every_order_and_batch(unit: str) -> None:
    messages, expected = UNITS[unit]
    lines = tuple(unit_message(m) for m in messages)
    want = {
        meter: (T + fitted * H, None if removed is None else T + removed * H)
        for meter, (fitted, removed) in expected.items()
    }
    for order in permutations(range(len(lines))):
        for batch in (1, 2, len(lines)):
            assert spans(lines, list(order), batch) == want, (order, batch)


def test_a_removal_an_operator_set_is_not_moved_by_an_exchange_found_later() -> None:
    lines = tuple(unit_message(m) for m in [{A: [0, 1, 2]}, {B: [3]}, {B: [1]}])
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "one"))
    store.registry.add_device(Device("U-000001", "C-1"))
    ingest = Ingest(store)
    ingest.ingest(
        [Incoming("f:1", lines[0], 1_800_000_000), Incoming("f:2", lines[1], 1_800_000_000)]
    )
    store.registry.set_service([(A, T, T + 3 * H)], by_operator=True)  # as found
    Ingest(store).ingest([Incoming("f:3", lines[2], 1_800_000_000)])  # B read earlier, late
    old = store.registry.get_meter(A)
    assert old is not None
    assert (old.installed_at, old.removed_at, old.removal_by_operator) == (T, T + 3 * H, True)


def test_an_exchange_moved_earlier_is_logged_as_such(caplog: pytest.LogCaptureFixture) -> None:
    lines = tuple(unit_message(m) for m in [{A: [0, 1]}, {B: [3]}, {B: [2]}])
    with caplog.at_level(logging.INFO, logger="kenshin.services.ingest"):
        assert spans(lines, [0, 1, 2], 1) == {A: (T, T + 2 * H), B: (T + 2 * H, None)}
    logged = [r.getMessage() for r in caplog.records if "exchanged" in r.getMessage()]
    assert logged == [
        "meter M-A of unit U-000001 exchanged for M-B at 2026-11-26T05:00:00Z",
        "meter M-A of unit U-000001 exchanged for M-B at 2026-11-26T04:30:00Z (earlier than"
        " found before: the new meter's first reading came late)",
    ]


U1, U2, M, N, X = "U-000001", "U-000002", "M-M", "M-N", "M-X"
Placed = dict[str, tuple[str, int, int | None]]  # meter: unit, fitted, removed (half hours)
MOVES: dict[str, tuple[list[tuple[str, dict[str, list[int]]]], Placed]] = {
    # messages in time order, and the meters they leave: a meter moved to another unit
    # belongs to the unit of its newest reading, and stays in service
    "moved": ([(U1, {M: [0]}), (U1, {M: [1]}), (U2, {M: [3]}), (U2, {M: [4]})], {M: (U2, 0, None)}),
    "moved from a unit of two": (
        [(U1, {M: [0], X: [0]}), (U1, {M: [1], X: [1]}), (U1, {X: [3]}), (U2, {M: [3]})],
        {M: (U2, 0, None), X: (U1, 0, None)},
    ),
    "moved, its former unit's late message holding a reading dated ahead": (
        [(U1, {M: [0]}), (U1, {M: [1, FUTURE]}), (U2, {M: [3]}), (U2, {M: [4]})],
        {M: (U2, 0, None)},
    ),
    "read by both units at the same time: the unit of the lower id": (
        [(U1, {M: [0, 1]}), (U2, {M: [1]})],
        {M: (U1, 0, None)},
    ),
    "moved, and replaced on its unit": (
        [
            (U1, {M: [0]}),
            (U1, {M: [1]}),
            (U2, {X: [0, 1]}),
            (U1, {N: [3]}),
            (U2, {M: [3], X: [3]}),
            (U1, {N: [4]}),
            (U2, {M: [4], X: [4]}),
        ],
        {M: (U2, 0, None), N: (U1, 3, None), X: (U2, 0, None)},
    ),
}


def placed(lines: tuple[bytes, ...], order: list[int], batch: int) -> Placed:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "one"))
    for unit in (U1, U2):
        store.registry.add_device(Device(unit, "C-1"))
    ingest = Ingest(store)
    for start in range(0, len(order), batch):
        ingest.ingest(
            Incoming(f"f:{i}", lines[i], 1_800_000_000, live=False)
            for i in order[start : start + batch]
        )
    return {
        m.id: (m.device, (m.installed_at - T) // H, m.removed_at and (m.removed_at - T) // H)
        for m in store.registry.list_meters()
        if m.installed_at is not None
    }


@pytest.mark.parametrize("case", MOVES)
def test_a_meter_moved_to_another_unit_is_placed_the_same_in_every_order(case: str) -> None:
    messages, expected = MOVES[case]
    lines = tuple(unit_message(meters, unit) for unit, meters in messages)
    orders = list(permutations(range(len(lines))))
    if len(orders) > 400:  # a sample of the 5,040 orders of seven messages
        orders = [orders[0], *random.Random(7).sample(orders, 400)]
    for order in orders:
        for batch in (1, 2, len(lines)):
            assert placed(lines, list(order), batch) == expected, (order, batch)


def test_a_meter_moved_keeps_the_removal_an_operator_set() -> None:
    lines = (unit_message({M: [0, 1]}, U1), unit_message({M: [3]}, U2))
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "one"))
    for unit in (U1, U2):
        store.registry.add_device(Device(unit, "C-1"))
    Ingest(store).ingest([Incoming("f:1", lines[0], 1_800_000_000)])
    store.registry.set_service([(M, T, T + 2 * H)], by_operator=True)
    Ingest(store).ingest([Incoming("f:2", lines[1], 1_800_000_000)])
    meter = store.registry.get_meter(M)
    assert meter is not None
    assert (meter.device, meter.removed_at, meter.removal_by_operator) == (U2, T + 2 * H, True)


def test_a_meter_stays_with_its_newest_reading_when_two_workers_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker one registers M from U2's newer reading; worker two, with U1's older ones,
    asks for the lock of meters' changes while worker one stores that reading."""
    first, second = SqliteStore(tmp_path / "k.db"), SqliteStore(tmp_path / "k.db")
    first.registry.add_customer(Customer("C-1", "one"))
    for unit in (U1, U2):
        first.registry.add_device(Device(unit, "C-1"))
    asking = threading.Event()
    changing = second.registry.changing_meters

    @contextmanager
    def asked() -> Iterator[bool]:
        asking.set()
        with changing() as shared:
            yield shared

    monkeypatch.setattr(second.registry, "changing_meters", asked)
    older = Incoming("f:2", unit_message({M: [0, 1]}, U1), 1_800_000_000, live=False)
    other = threading.Thread(target=lambda: Ingest(second).ingest([older]))
    add_readings = first.readings.add_readings

    def adding(readings: Sequence[Reading], received_at: int) -> StoreResult:
        if not other.is_alive():
            other.start()
            assert asking.wait(10)
        return add_readings(readings, received_at)

    monkeypatch.setattr(first.readings, "add_readings", adding)
    Ingest(first).ingest([Incoming("f:1", unit_message({M: [3]}, U2), 1_800_000_000, live=False)])
    other.join(10)
    meter = first.registry.get_meter(M)
    first.close()
    second.close()
    assert meter is not None
    assert (meter.device, meter.installed_at, meter.removed_at) == (U2, T, None)


@pytest.mark.parametrize("batch", [1, 5])
def test_a_meter_moved_in_late_does_not_undo_its_new_units_own_exchange(batch: int) -> None:
    """X is exchanged for Z on U2 at slot 2, when M, later moved to U2, was first read on
    U1; M's earliest reading, from U1, comes last."""
    messages = [(U1, {M: [0]}), (U2, {X: [0, 1]}), (U1, {M: [2]}), (U2, {N: [2]})]
    messages.append((U2, {M: [5], N: [5]}))
    lines = tuple(unit_message(meters, unit) for unit, meters in messages)
    assert placed(lines, [2, 1, 3, 4, 0], batch) == {
        M: (U2, 0, None),
        N: (U2, 2, None),
        X: (U2, 0, 2),
    }


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_readings_after_an_operators_removal_are_counted_from_either_unit(
    order: list[int],
) -> None:
    lines = (unit_message({M: [3]}, U1), unit_message({M: [5]}, U2))
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "one"))
    for unit in (U1, U2):
        store.registry.add_device(Device(unit, "C-1"))
    Ingest(store).ingest([Incoming("f:0", unit_message({M: [0, 1]}, U1), 1_800_000_000)])
    store.registry.set_service([(M, T, T + 2 * H)], by_operator=True)
    ingest = Ingest(store)
    summaries = [ingest.ingest([Incoming(f"f:{i}", lines[i], 1_800_000_000)]) for i in order]
    assert sum(s.outside_service for s in summaries) == 2
