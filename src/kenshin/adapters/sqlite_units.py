"""Units' clocks and drift spells in the SQLite store.

Shares the store's one connection and its lock: the store composes it in as
``store.unit_clocks``. Its tables come with the store's migrations (``sqlite_schema``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kenshin.adapters import store_rows
from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.vee.clock import DriftSpell, UnitClock

SCHEMA = """
    -- Each unit's clock as its messages tell it (domain/vee/clock.py): last heard, the
    -- window of receipt time being gathered, the last offset judged, the open drift spell.
    CREATE TABLE unit_clocks (
        device TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, window_start INTEGER NOT NULL,
        window_min INTEGER NOT NULL, window_count INTEGER NOT NULL, offset_s INTEGER,
        spell_start INTEGER, spell_offset_s INTEGER) WITHOUT ROWID;
    -- Spans of receipt time in which a unit's clock was off by more than the limit;
    -- ends NULL while it still is.
    CREATE TABLE drift_spells (
        device TEXT NOT NULL, start INTEGER NOT NULL, ends INTEGER, offset_s INTEGER NOT NULL,
        PRIMARY KEY (device, start)) WITHOUT ROWID;
    CREATE INDEX drift_spells_start ON drift_spells (start);
"""
STATUS_SCHEMA = """
    -- Each unit's last status message (a JSON object: firmware, rsrp...) and when it came.
    CREATE TABLE unit_statuses (
        device TEXT PRIMARY KEY, at INTEGER NOT NULL, payload BLOB NOT NULL) WITHOUT ROWID;
"""
_CLOCK = (
    "SELECT device, last_seen, window_start, window_min, window_count, offset_s,"
    " spell_start, spell_offset_s FROM unit_clocks"
)
_CHUNK = 500  # devices per query: well below SQLite's limit of bound parameters


class SqliteUnitClocks(SqlitePart):
    """Unit clocks on the store's connection; ``lock`` is the store's."""

    def clocks(self, devices: Iterable[str]) -> dict[str, UnitClock]:
        """The stored clocks of those of ``devices`` ever heard, by device."""
        wanted = sorted(set(devices))
        found: dict[str, UnitClock] = {}
        with self._using("reading unit clocks") as db:
            for lo in range(0, len(wanted), _CHUNK):
                part = wanted[lo : lo + _CHUNK]
                marks = ",".join("?" * len(part))
                for row in db.execute(f"{_CLOCK} WHERE device IN ({marks})", part):
                    found[row[0]] = store_rows.clock(row)
        return found

    def record(self, clocks: Sequence[UnitClock], spells: Sequence[DriftSpell]) -> None:
        """In one transaction: save ``clocks`` and ``spells``, each replacing what was
        stored under its key."""
        if not clocks and not spells:
            return
        with self._using("saving unit clocks", write=True) as db:
            db.executemany(
                "INSERT OR REPLACE INTO unit_clocks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [store_rows.clock_row(clock) for clock in clocks],
            )
            db.executemany(
                "INSERT OR REPLACE INTO drift_spells VALUES (?, ?, ?, ?)",
                [(s.device, s.start, s.end, s.offset_s) for s in spells],
            )

    def last_seen(self) -> dict[str, int]:
        """When each unit ever heard was last heard (UTC epoch s), by device."""
        with self._using("reading when units were last seen") as db:
            rows = db.execute("SELECT device, last_seen FROM unit_clocks ORDER BY device")
            return {device: last_seen for device, last_seen in rows}

    def save_status(self, device: str, at: int, payload: bytes) -> None:
        """Keep ``payload`` as the last status message of ``device``, received at ``at``."""
        with self._using("saving a unit's status", write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO unit_statuses VALUES (?, ?, ?)", (device, at, payload)
            )

    def save_statuses(self, statuses: Mapping[str, tuple[int, bytes]]) -> None:
        """In one transaction: keep each (received at, payload) of ``statuses`` as the last
        status message of its device."""
        rows = [(device, at, payload) for device, (at, payload) in statuses.items()]
        with self._using("saving units' statuses", write=True) as db:
            db.executemany("INSERT OR REPLACE INTO unit_statuses VALUES (?, ?, ?)", rows)

    def statuses(self) -> dict[str, tuple[int, bytes]]:
        """The last status message of each unit that sent one, and when it came, by device."""
        with self._using("reading units' statuses") as db:
            rows = db.execute("SELECT device, at, payload FROM unit_statuses ORDER BY device")
            return {device: (at, bytes(payload)) for device, at, payload in rows}

    def drift_spells(
        self, start: int, end: int, devices: Sequence[str] | None = None
    ) -> list[DriftSpell]:
        """The drift spells covering any of [start, end), optionally of ``devices`` only,
        by device then start."""
        with self._using("reading drift spells") as db:
            rows = db.execute(
                "SELECT device, start, ends, offset_s FROM drift_spells"
                " WHERE start < ? AND (ends IS NULL OR ends > ?) ORDER BY device, start",
                (end, start),
            ).fetchall()
        wanted = None if devices is None else set(devices)
        return [DriftSpell(*row) for row in rows if wanted is None or row[0] in wanted]
