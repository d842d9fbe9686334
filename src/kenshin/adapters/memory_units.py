"""Units' clocks and drift spells in memory: the MemoryStore's ``unit_clocks``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kenshin.domain.vee.clock import DriftSpell, UnitClock


class MemoryUnitClocks:
    """Unit clocks by device, and drift spells by (device, start)."""

    def __init__(self) -> None:
        self._clocks: dict[str, UnitClock] = {}
        self._spells: dict[tuple[str, int], DriftSpell] = {}
        self._statuses: dict[str, tuple[int, bytes]] = {}

    def clocks(self, devices: Iterable[str]) -> dict[str, UnitClock]:
        """The stored clocks of those of ``devices`` ever heard, by device."""
        found = (self._clocks.get(device) for device in devices)
        return {clock.device: clock for clock in found if clock is not None}

    def record(self, clocks: Sequence[UnitClock], spells: Sequence[DriftSpell]) -> None:
        """Save ``clocks`` and ``spells``, each replacing what was stored under its key."""
        self._clocks.update((clock.device, clock) for clock in clocks)
        self._spells.update(((spell.device, spell.start), spell) for spell in spells)

    def last_seen(self) -> dict[str, int]:
        """When each unit ever heard was last heard (UTC epoch s), by device."""
        return {device: clock.last_seen for device, clock in sorted(self._clocks.items())}

    def save_status(self, device: str, at: int, payload: bytes) -> None:
        """Keep ``payload`` as the last status message of ``device``, received at ``at``."""
        self._statuses[device] = (at, payload)

    def save_statuses(self, statuses: Mapping[str, tuple[int, bytes]]) -> None:
        """In one transaction: keep each (received at, payload) of ``statuses`` as the last
        status message of its device."""
        self._statuses.update(statuses)

    def statuses(self) -> dict[str, tuple[int, bytes]]:
        """The last status message of each unit that sent one, and when it came, by device."""
        return dict(sorted(self._statuses.items()))

    def drift_spells(
        self, start: int, end: int, devices: Sequence[str] | None = None
    ) -> list[DriftSpell]:
        """The drift spells covering any of [start, end), optionally of ``devices`` only,
        by device then start."""
        wanted = None if devices is None else set(devices)
        return [
            spell
            for key, spell in sorted(self._spells.items())
            if spell.overlaps(start, end) and (wanted is None or key[0] in wanted)
        ]
