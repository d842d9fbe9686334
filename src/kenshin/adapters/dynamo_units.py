"""Units' clocks, drift spells and statuses in DynamoDB: the DynamoStore's
``unit_clocks``, in the records table under these partition keys:

- ``clock``: a unit's clock, ``sk`` the device's id: those of a batch are one
  BatchGetItem, when each unit was last heard one Query;
- ``drift_spell``: a drift spell, ``sk`` its device and start (padded: ``device#start``).
  Spells are few (a clock off by more than the limit), so one partition: the spells of
  a few devices are a Query each, any others the partition read whole, DynamoDB
  keeping those that cover the time asked;
- ``status``: a unit's last status message, ``sk`` the device's id.

``record`` and ``save_statuses`` write in batches, not one transaction: every item
replaces what was stored under its key, so a call that failed part way is harmless when
made again. ``record`` writes the spells first, then the clocks: a clock is never saved
without the spell it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from kenshin.adapters.dynamo_items import (
    blob,
    integer,
    item,
    key,
    optional_integer,
    padded,
    text,
)
from kenshin.adapters.dynamo_tables import DynamoTables, Item
from kenshin.domain.vee.clock import DriftSpell, UnitClock

CLOCK = "clock"
SPELL = "drift_spell"
STATUS = "status"
_FEW = 10  # devices whose spells are read a Query each, not in the whole partition
_COVERS = "#start < :end AND (attribute_not_exists(ends) OR ends > :start)"


class DynamoUnitClocks:
    """Unit clocks in the records table of ``tables``."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._table = tables.records

    def clocks(self, devices: Iterable[str]) -> dict[str, UnitClock]:
        """The stored clocks of those of ``devices`` ever heard, by device (in the order
        of ``devices``)."""
        wanted = list(dict.fromkeys(devices))
        found = self._tables.get_many(self._table, [key(CLOCK, d) for d in wanted])
        clocks = {clock.device: clock for clock in map(_clock, found)}
        return {device: clocks[device] for device in wanted if device in clocks}

    def record(self, clocks: Sequence[UnitClock], spells: Sequence[DriftSpell]) -> None:
        """Save ``clocks`` (one per device, replacing what was stored) and ``spells``,
        each replacing the stored spell of its device and start: the spells first (see
        the module)."""
        by_key = {(s.device, s.start): _spell_item(s) for s in spells}
        self._tables.write_many(self._table, list(by_key.values()))
        by_device = {c.device: _clock_item(c) for c in clocks}
        self._tables.write_many(self._table, list(by_device.values()))

    def last_seen(self) -> dict[str, int]:
        """When each unit ever heard was last heard (UTC epoch s), by device."""
        found = self._partition(CLOCK, ProjectionExpression="sk, last_seen")
        return {f["sk"]["S"]: integer(f, "last_seen") for f in found}

    def save_status(self, device: str, at: int, payload: bytes) -> None:
        """Keep ``payload`` as the last status message of ``device``, received at ``at``."""
        status = item(STATUS, device, at=at, payload=payload)
        self._tables.call("put_item", TableName=self._table, Item=status)

    def save_statuses(self, statuses: Mapping[str, tuple[int, bytes]]) -> None:
        """Keep each (received at, payload) of ``statuses`` as the last status message of
        its device (in batches: see the module)."""
        puts = [item(STATUS, d, at=at, payload=payload) for d, (at, payload) in statuses.items()]
        self._tables.write_many(self._table, puts)

    def statuses(self) -> dict[str, tuple[int, bytes]]:
        """The last status message of each unit that sent one, and when it came, by device."""
        return {
            f["sk"]["S"]: (integer(f, "at"), blob(f, "payload")) for f in self._partition(STATUS)
        }

    def drift_spells(
        self, start: int, end: int, devices: Sequence[str] | None = None
    ) -> list[DriftSpell]:
        """The drift spells covering any of [start, end), optionally of ``devices`` only,
        by device then start."""
        wanted = None if devices is None else set(devices)
        few = wanted is not None and len(wanted) <= _FEW
        prefixes = [f"{device}#" for device in sorted(wanted or ())] if few else [None]
        found = [spell for prefix in prefixes for spell in self._spells(prefix, start, end)]
        chosen = [s for s in found if wanted is None or s.device in wanted]
        return sorted(chosen, key=lambda s: (s.device, s.start))

    def _spells(self, prefix: str | None, start: int, end: int) -> Iterator[DriftSpell]:
        """The spells covering any of [start, end), those whose ``sk`` begins with
        ``prefix`` if given."""
        values = {":pk": {"S": SPELL}, ":start": {"N": str(start)}, ":end": {"N": str(end)}}
        condition = "pk = :pk"
        if prefix is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        found = self._tables.query(
            self._table,
            KeyConditionExpression=condition,
            FilterExpression=_COVERS,
            ExpressionAttributeNames={"#start": "start"},
            ExpressionAttributeValues=values,
        )
        return map(_spell, found)

    def _partition(self, pk: str, **request: object) -> Iterator[Item]:
        """The items of the partition ``pk``, in ``sk`` order."""
        return self._tables.query(
            self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            **request,
        )


def _clock_item(clock: UnitClock) -> Item:
    spell = clock.spell
    return item(
        CLOCK,
        clock.device,
        last_seen=clock.last_seen,
        window=clock.window,
        window_min=clock.window_min,
        window_count=clock.window_count,
        offset_s=clock.offset_s,
        spell_start=None if spell is None else spell.start,
        spell_offset_s=None if spell is None else spell.offset_s,
    )


def _clock(found: Item) -> UnitClock:
    device = found["sk"]["S"]
    spell_start = optional_integer(found, "spell_start")
    spell_offset = optional_integer(found, "spell_offset_s")
    spell = None
    if spell_start is not None and spell_offset is not None:
        spell = DriftSpell(device, spell_start, None, spell_offset)
    return UnitClock(
        device,
        integer(found, "last_seen"),
        integer(found, "window"),
        integer(found, "window_min"),
        integer(found, "window_count"),
        optional_integer(found, "offset_s"),
        spell,
    )


def _spell_item(spell: DriftSpell) -> Item:
    return item(
        SPELL,
        f"{spell.device}#{padded(spell.start)}",
        device=spell.device,
        start=spell.start,
        ends=spell.end,
        offset_s=spell.offset_s,
    )


def _spell(found: Item) -> DriftSpell:
    return DriftSpell(
        text(found, "device"),
        integer(found, "start"),
        optional_integer(found, "ends"),
        integer(found, "offset_s"),
    )
