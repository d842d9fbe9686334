"""Units' clocks, drift spells and last status messages in the PostgreSQL store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kenshin.adapters import store_rows
from kenshin.adapters.postgres_part import PgPart
from kenshin.domain.vee.clock import DriftSpell, UnitClock

SCHEMA = """
    -- Each unit's clock as its messages tell it (domain/vee/clock.py): last heard, the
    -- window of receipt time being gathered, the last offset judged, the open drift spell.
    CREATE TABLE unit_clocks (
        device TEXT COLLATE "C" PRIMARY KEY, last_seen BIGINT NOT NULL,
        window_start BIGINT NOT NULL, window_min BIGINT NOT NULL,
        window_count INTEGER NOT NULL, offset_s BIGINT, spell_start BIGINT,
        spell_offset_s BIGINT);
    -- Spans of receipt time in which a unit's clock was off by more than the limit;
    -- ends NULL while it still is.
    CREATE TABLE drift_spells (
        device TEXT COLLATE "C" NOT NULL, start BIGINT NOT NULL, ends BIGINT,
        offset_s BIGINT NOT NULL, PRIMARY KEY (device, start));
    CREATE INDEX drift_spells_start ON drift_spells (start);
    -- Each unit's last status message (a JSON object: firmware, rsrp...) and when it came.
    CREATE TABLE unit_statuses (
        device TEXT COLLATE "C" PRIMARY KEY, at BIGINT NOT NULL, payload BYTEA NOT NULL);
"""
_CLOCK = (
    "SELECT device, last_seen, window_start, window_min, window_count, offset_s,"
    " spell_start, spell_offset_s FROM unit_clocks"
)
_SAVE_STATUS = (
    "INSERT INTO unit_statuses VALUES (%s, %s, %s)"
    " ON CONFLICT (device) DO UPDATE SET at = EXCLUDED.at, payload = EXCLUDED.payload"
)


class PgUnitClocks(PgPart):
    """Unit clocks on the store's pool."""

    def clocks(self, devices: Iterable[str]) -> dict[str, UnitClock]:
        """The stored clocks of those of ``devices`` ever heard, by device."""
        wanted = sorted(set(devices))
        if not wanted:
            return {}
        sql = f"{_CLOCK} WHERE device = ANY(%s)"
        rows = self._rows("reading unit clocks", sql, (wanted,))
        return {row[0]: store_rows.clock(row) for row in rows}

    def record(self, clocks: Sequence[UnitClock], spells: Sequence[DriftSpell]) -> None:
        """In one transaction: save ``clocks`` and ``spells``, each replacing what was
        stored under its key."""
        if not clocks and not spells:
            return
        # In the order of their keys: two workers saving the same units lock them in the
        # same order, and never wait for each other in a circle.
        clocks = sorted(clocks, key=lambda clock: clock.device)
        spells = sorted(spells, key=lambda spell: (spell.device, spell.start))
        with self._using("saving unit clocks") as db, db.cursor() as cur:
            cur.executemany(
                "INSERT INTO unit_clocks VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (device) DO UPDATE SET last_seen = EXCLUDED.last_seen,"
                " window_start = EXCLUDED.window_start, window_min = EXCLUDED.window_min,"
                " window_count = EXCLUDED.window_count, offset_s = EXCLUDED.offset_s,"
                " spell_start = EXCLUDED.spell_start, spell_offset_s = EXCLUDED.spell_offset_s",
                [store_rows.clock_row(clock) for clock in clocks],
            )
            cur.executemany(
                "INSERT INTO drift_spells VALUES (%s, %s, %s, %s) ON CONFLICT (device, start)"
                " DO UPDATE SET ends = EXCLUDED.ends, offset_s = EXCLUDED.offset_s",
                [(s.device, s.start, s.end, s.offset_s) for s in spells],
            )

    def last_seen(self) -> dict[str, int]:
        """When each unit ever heard was last heard (UTC epoch s), by device."""
        sql = "SELECT device, last_seen FROM unit_clocks ORDER BY device"
        return dict(self._rows("reading when units were last seen", sql))

    def save_status(self, device: str, at: int, payload: bytes) -> None:
        """Keep ``payload`` as the last status message of ``device``, received at ``at``."""
        self._run("saving a unit's status", _SAVE_STATUS, (device, at, payload))

    def save_statuses(self, statuses: Mapping[str, tuple[int, bytes]]) -> None:
        """In one transaction: keep each (received at, payload) of ``statuses`` as the last
        status message of its device."""
        rows = [(device, at, payload) for device, (at, payload) in statuses.items()]
        if rows:
            with self._using("saving units' statuses") as db, db.cursor() as cur:
                cur.executemany(_SAVE_STATUS, rows)

    def statuses(self) -> dict[str, tuple[int, bytes]]:
        """The last status message of each unit that sent one, and when it came, by device."""
        sql = "SELECT device, at, payload FROM unit_statuses ORDER BY device"
        rows = self._rows("reading units' statuses", sql)
        return {device: (at, bytes(payload)) for device, at, payload in rows}

    def drift_spells(
        self, start: int, end: int, devices: Sequence[str] | None = None
    ) -> list[DriftSpell]:
        """The drift spells covering any of [start, end), optionally of ``devices`` only,
        by device then start."""
        sql = (
            "SELECT device, start, ends, offset_s FROM drift_spells"
            " WHERE start < %s AND (ends IS NULL OR ends > %s)"
        )
        args: list[object] = [end, start]
        if devices is not None:
            sql += " AND device = ANY(%s)"
            args.append(list(devices))
        rows = self._rows("reading drift spells", f"{sql} ORDER BY device, start", args)
        return [DriftSpell(*row) for row in rows]
