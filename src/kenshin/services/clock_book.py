"""The units' clocks as ingest hears them: when each was last heard, how far its
``sent`` times are from their receipt, and its drift spells (``domain.vee.clock``)."""

from __future__ import annotations

import logging

from kenshin.domain.slots import iso_utc
from kenshin.domain.vee import DriftSpell, UnitClock, VeeSettings, observe
from kenshin.ports import UnitClocks

log = logging.getLogger(__name__)

Heard = tuple[str, int, int | None]  # (device, received at, sent at by the unit's clock)


class ClockBook:
    """Every unit heard since start, as saved in ``unit_clocks``. ``shared``: other
    processes hear the same units (a cluster's workers, each given a share of every
    unit's messages): each batch starts from the clocks as stored, not as this process
    last saw them, so that a unit's window counts every process's messages."""

    def __init__(self, unit_clocks: UnitClocks, vee: VeeSettings, *, shared: bool = False) -> None:
        self._store = unit_clocks
        self._vee = vee
        self._shared = shared
        self._clocks: dict[str, UnitClock] = {}

    def track(self, heard: list[Heard]) -> None:
        """Update the clocks of the units heard, in order of arrival, and save them once."""
        if self._shared:
            self._clocks = {}
        clocks = self._clocks
        unknown = {device for device, _, _ in heard if device not in clocks}
        if unknown:
            clocks.update(self._store.clocks(unknown))
        changed: dict[str, UnitClock] = {}
        spells: dict[tuple[str, int], DriftSpell] = {}
        for device, received, sent in heard:
            before = changed.get(device) or clocks.get(device)
            changed[device], spell = observe(before, device, received, sent, self._vee)
            if spell is not None:
                spells[(device, spell.start)] = spell
        self._store.record(list(changed.values()), list(spells.values()))
        clocks.update(changed)  # only once saved: a failed save leaves the store's view
        for spell in spells.values():
            if spell.end is None:
                log.info(
                    "unit %s: clock off by %d s since %s",
                    spell.device,
                    spell.offset_s,
                    iso_utc(spell.start),
                )
            else:
                log.info("unit %s: clock right again from %s", spell.device, iso_utc(spell.end))
