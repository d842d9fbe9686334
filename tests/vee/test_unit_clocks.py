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
from kenshin.domain.vee import CLOCK_WINDOW_S, DriftSpell, UnitClock
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


def test_clocks_and_spells_are_kept_and_replaced_by_key(opener: Opener) -> None:
    store = opener()
    open_spell = DriftSpell("U-2", T0, None, 400)
    behind = UnitClock("U-2", T0 + 9000, T0 + 7200, 390, 3, 400, open_spell)
    store.unit_clocks.record(
        [UnitClock("U-1", T0 + 60, T0, 4, 2), behind],
        [open_spell, DriftSpell("U-1", T0 - 90_000, T0 - 80_000, -150)],
    )
    store.unit_clocks.record([UnitClock("U-1", T0 + 120, T0, 3, 3)], [])
    again = opener()
    assert again.unit_clocks.clocks(["U-2", "U-1", "U-9"]) == {
        "U-1": UnitClock("U-1", T0 + 120, T0, 3, 3),
        "U-2": behind,
    }
    assert again.unit_clocks.last_seen() == {"U-1": T0 + 120, "U-2": T0 + 9000}
    assert again.unit_clocks.drift_spells(T0 - 86_400, T0 + 86_400) == [
        DriftSpell("U-1", T0 - 90_000, T0 - 80_000, -150),
        open_spell,
    ]
    assert again.unit_clocks.drift_spells(T0 - 80_000, T0) == []  # ends before, opens after
    assert again.unit_clocks.drift_spells(T0, T0 + 1, ["U-1"]) == []
    closed = DriftSpell("U-2", T0, T0 + 3600, 400)
    again.unit_clocks.record([], [closed])
    assert again.unit_clocks.drift_spells(T0 + 1800, 2**40) == [closed]
    assert again.unit_clocks.drift_spells(T0 + 3600, 2**40) == []


def test_many_devices_are_read_in_one_call(opener: Opener) -> None:
    store = opener()
    clocks = [UnitClock(f"U-{n:05d}", T0 + n) for n in range(1_200)]
    store.unit_clocks.record(clocks, [])
    assert list(store.unit_clocks.clocks(c.device for c in clocks).values()) == clocks
    assert len(store.unit_clocks.last_seen()) == 1_200


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
