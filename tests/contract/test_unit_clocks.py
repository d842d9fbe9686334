"""Units' clocks and drift spells kept by every store (as ingest keeps them:
tests/vee/test_unit_clocks.py)."""

from __future__ import annotations

from kenshin.domain.vee import DriftSpell, UnitClock
from kenshin.ports import Store

T0 = 1_790_780_400  # a window's start


def test_clocks_and_spells_are_kept_and_replaced_by_key(store: Store) -> None:
    open_spell = DriftSpell("U-2", T0, None, 400)
    behind = UnitClock("U-2", T0 + 9000, T0 + 7200, 390, 3, 400, open_spell)
    store.unit_clocks.record(
        [UnitClock("U-1", T0 + 60, T0, 4, 2), behind],
        [open_spell, DriftSpell("U-1", T0 - 90_000, T0 - 80_000, -150)],
    )
    store.unit_clocks.record([UnitClock("U-1", T0 + 120, T0, 3, 3)], [])
    assert store.unit_clocks.clocks(["U-2", "U-1", "U-9"]) == {
        "U-1": UnitClock("U-1", T0 + 120, T0, 3, 3),
        "U-2": behind,
    }
    assert store.unit_clocks.last_seen() == {"U-1": T0 + 120, "U-2": T0 + 9000}
    assert store.unit_clocks.drift_spells(T0 - 86_400, T0 + 86_400) == [
        DriftSpell("U-1", T0 - 90_000, T0 - 80_000, -150),
        open_spell,
    ]
    assert store.unit_clocks.drift_spells(T0 - 80_000, T0) == []  # ends before, opens after
    assert store.unit_clocks.drift_spells(T0, T0 + 1, ["U-1"]) == []
    assert store.unit_clocks.drift_spells(T0, T0 + 1, ["U-2", "U-3"]) == [open_spell]
    fleet = [f"U-{n}" for n in range(2, 40)]  # many devices, U-1 not among them
    assert store.unit_clocks.drift_spells(T0 - 86_400, T0 + 86_400, fleet) == [open_spell]
    closed = DriftSpell("U-2", T0, T0 + 3600, 400)
    store.unit_clocks.record([], [closed])
    assert store.unit_clocks.drift_spells(T0 + 1800, 2**40) == [closed]
    assert store.unit_clocks.drift_spells(T0 + 3600, 2**40) == []


def test_many_devices_are_read_in_one_call(store: Store) -> None:
    clocks = [UnitClock(f"U-{n:05d}", T0 + n) for n in range(1_200)]
    store.unit_clocks.record(clocks, [])
    assert list(store.unit_clocks.clocks(c.device for c in clocks).values()) == clocks
    assert len(store.unit_clocks.last_seen()) == 1_200
