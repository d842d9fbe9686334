"""Units' clocks in the store, as ingest keeps them: last seen, offsets and drift spells,
in memory and in SQLite (kept across a restart)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import postgres_url
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Customer, Device
from kenshin.domain.vee import CLOCK_WINDOW_S, DriftSpell
from kenshin.ports import Store
from kenshin.services.ingest import Incoming, Ingest

T0 = 1_790_780_400  # a window's start
Opener = Callable[[], Store]


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same store again each time it is called (a new MemoryStore stays one)."""
    opened: list[Store] = []
    memory = MemoryStore()
    if request.param == "postgres":
        request.getfixturevalue("postgres_database")

    def open_store() -> Store:
        store: Store
        if request.param == "postgres":
            store = PostgresStore(postgres_url(tmp_path), create=True)
        else:
            store = memory if request.param == "memory" else SqliteStore(tmp_path / "k.db")
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def message(device: str, seq: int, sent: int) -> bytes:
    """A readings message sent at ``sent`` with one reading at the half hour before."""
    t = sent - sent % 1800
    return json.dumps(
        {
            "v": 1,
            "device": device,
            "seq": seq,
            "sent": datetime.fromtimestamp(sent, UTC).isoformat(),
            "meters": [
                {
                    "meter": f"M-{device}",
                    "unit": "0.1kWh",
                    "coefficient": 1,
                    "digits": 6,
                    "readings": [{"t": datetime.fromtimestamp(t, UTC).isoformat(), "fwd": seq}],
                }
            ],
        }
    ).encode()


def test_workers_sharing_a_unit_s_messages_judge_its_clock_as_one(opener: Opener) -> None:
    """A cluster's workers each get a share of every unit's messages: each batch starts
    from the clock as stored, so the window counts them all (with its own copy, each
    worker counted 3 of the 6 messages, under the 5 a judgement needs)."""
    store = opener()
    store.registry.add_customer(Customer("C1", "First"))
    store.registry.add_device(Device("U-1", "C1"))
    workers = [Ingest(opener(), shared=True), Ingest(opener(), shared=True)]
    for k in range(8):  # a window of 6 messages, 10 minutes behind, then 2 in the next
        sent = T0 + 1800 * k + 5
        workers[k % 2].ingest([Incoming(f"a:{k}", message("U-1", k, sent), sent + 600)])
    assert opener().unit_clocks.drift_spells(T0, T0 + 86_400) == [DriftSpell("U-1", T0, None, 600)]
    assert opener().unit_clocks.clocks(["U-1"])["U-1"].window_count == 2


def test_messages_that_waited_at_the_broker_for_a_worker_say_nothing_of_the_clock(
    opener: Opener,
) -> None:
    """A worker down from a window's start, back at 2 h 55 min: the broker hands it the
    window's six messages at once, late by up to the whole wait. Their receipt is not
    the unit's clock being behind; the messages sent once it is back are."""
    store = opener()
    store.registry.add_customer(Customer("C1", "First"))
    store.registry.add_device(Device("U-1", "C1"))
    ingest = Ingest(store, shared=True)
    back = T0 + 2 * 3600 + 55 * 60
    for k in range(14):  # the unit's clock right: 4 s of network
        sent = T0 + 1800 * k + 5
        received = max(back, sent + 4)
        item = Incoming(f"a:{k}", message("U-1", k, sent), received, connected_at=back)
        ingest.ingest([item])
    assert store.unit_clocks.drift_spells(T0, T0 + 86_400) == []
    assert store.unit_clocks.clocks(["U-1"])["U-1"].offset_s == 4
    assert store.unit_clocks.last_seen() == {"U-1": T0 + 1800 * 13 + 9}


def test_a_clock_a_day_behind_is_judged_by_a_worker_that_connected_since(
    opener: Opener,
) -> None:
    """Every message of a unit a day slow seems sent before the worker's link was made
    an hour ago; those that came after the session's handing over still count."""
    store = opener()
    store.registry.add_customer(Customer("C1", "First"))
    store.registry.add_device(Device("U-1", "C1"))
    ingest = Ingest(store, shared=True)
    for k in range(8):
        sent = T0 + 1800 * k + 5 - 86_400
        item = Incoming(
            f"a:{k}", message("U-1", k, sent), sent + 86_400 + 4, connected_at=T0 - 3600
        )
        ingest.ingest([item])
    assert store.unit_clocks.drift_spells(T0, T0 + 86_400) == [DriftSpell("U-1", T0, None, 86_404)]


def test_ingest_keeps_last_seen_and_a_slow_clock_and_a_restart_goes_on(opener: Opener) -> None:
    store = opener()
    store.registry.add_customer(Customer("C1", "First"))
    for device in ("U-1", "U-2"):
        store.registry.add_device(Device(device, "C1"))
    ingest = Ingest(store)
    # Half-hourly for 6 hours: U-1's clock right (4 s of network), U-2's 5 minutes behind.
    for k in range(12):
        sent = T0 + 1800 * k + 5
        ingest.ingest(
            [
                Incoming(f"a:{k}", message("U-1", k, sent), sent + 4),
                Incoming(f"b:{k}", message("U-2", k, sent), sent + 300 + 4),
                Incoming(f"c:{k}", message("U-9", k, sent), sent),  # unknown: a dead letter
            ]
        )
    # A file of old messages imported later says nothing of the clocks.
    ingest.ingest([Incoming("file:1", message("U-1", 99, T0 + 5), T0 + 86_400, live=False)])
    assert store.unit_clocks.last_seen() == {
        "U-1": T0 + 1800 * 11 + 9,
        "U-2": T0 + 1800 * 11 + 309,
    }
    assert store.unit_clocks.drift_spells(T0, T0 + 86_400) == [DriftSpell("U-2", T0, None, 304)]
    clocks = store.unit_clocks.clocks(["U-1", "U-2"])
    assert (clocks["U-1"].offset_s, clocks["U-2"].offset_s) == (4, 304)
    # After a restart, ingest goes on from the stored clocks: U-2 is set right.
    later = Ingest(opener())
    for k in range(12, 19):
        sent = T0 + 1800 * k + 5
        later.ingest([Incoming(f"b:{k}", message("U-2", k, sent), sent + 2)])
    assert opener().unit_clocks.drift_spells(T0, T0 + 86_400) == [
        DriftSpell("U-2", T0, T0 + 2 * CLOCK_WINDOW_S, 304)
    ]
