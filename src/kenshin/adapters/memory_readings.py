"""In-memory readings, dead letters and file revisions: the Readings, DeadLetters and
Revisions ports in dictionaries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import numpy as np

from kenshin.adapters.export_locks import ProcessExportLocks
from kenshin.domain.intervals import NO_REGISTER, Registers, registers_at
from kenshin.domain.model import Conflict, DeadLetter, FileRevision, Reading, StoreResult, Watermark
from kenshin.domain.readings import check_registers, settle_one
from kenshin.domain.slots import DaySlots
from kenshin.errors import StoreError

_DAY_S = 86_400


class MemoryReadings:
    """The Readings port in dictionaries: each reading with the batch that stored it."""

    def __init__(self) -> None:
        self._readings: dict[str, dict[int, Reading]] = {}
        self._batches = 0  # batches stored so far: the number of the last one
        self._batch_of: dict[tuple[str, int], int] = {}  # (meter, t) -> batch that stored it
        self._day_batch: dict[int, int] = {}  # UTC day -> newest batch that changed a reading
        self._conflicts: list[Conflict] = []
        self._conflict_batch: dict[tuple[object, ...], int] = {}

    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch; duplicates change nothing, conflicts are kept aside."""
        try:
            check_registers(readings)
        except ValueError as exc:
            raise StoreError(f"memory store: {exc}") from exc
        stored = duplicates = 0
        conflicts: list[Conflict] = []
        self._batches += 1
        batch = self._batches
        for reading in readings:
            if reading.fwd is None and reading.rev is None:
                duplicates += 1
                continue
            series = self._readings.setdefault(reading.meter, {})
            old = series.get(reading.t)
            if old is None:
                series[reading.t] = reading
                self._batch_of[(reading.meter, reading.t)] = batch
                self._day_batch[reading.t // _DAY_S] = batch
                stored += 1
                continue
            kept, conflict = settle_one(old, reading, received_at)
            series[reading.t] = kept
            if conflict is not None:
                conflicts.append(conflict)
            elif kept == old:
                duplicates += 1
                continue
            else:
                stored += 1
            self._day_batch[reading.t // _DAY_S] = batch  # completed or in conflict
        for conflict in conflicts:  # each one once, as in every store
            if _conflict_key(conflict) not in self._conflict_batch:
                self._conflicts.append(conflict)
                self._conflict_batch[_conflict_key(conflict)] = batch
        return StoreResult(stored, duplicates, tuple(conflicts))

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, sorted by t."""
        for meter_id in meter_ids:
            series = self._readings.get(meter_id, {})
            found = [series[t] for t in sorted(series) if start <= t <= end]
            if found:
                yield meter_id, found

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Registers at start + i * 1800 (i in 0..count), NO_REGISTER where none; with
        ``as_of``, of readings of its batch or earlier."""
        slots = DaySlots(date.min, start, count)
        fwd = np.full((len(meter_ids), count + 1), NO_REGISTER, np.uint32)
        rev = fwd.copy()
        for row, meter_id in enumerate(meter_ids):
            found = next(self.readings_between([meter_id], start, slots.end), None)
            readings = [] if found is None else found[1]
            if as_of is not None:
                readings = [r for r in readings if self._batch_of[(r.meter, r.t)] <= as_of.batch]
            if readings:
                fwd[row], rev[row] = registers_at(readings, slots)
        return fwd, rev

    def last_batch(self) -> int:
        """The number of the last batch stored."""
        return self._batches

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end; 0 if none."""
        days = range(start // _DAY_S, end // _DAY_S + 1)
        return max((self._day_batch.get(day, 0) for day in days), default=0)

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""
        wanted = set(meter_ids)
        last = self._batches if as_of is None else as_of.batch
        return sorted(
            {
                (c.meter, c.t)
                for c in self._conflicts
                if c.meter in wanted
                and start <= c.t <= end
                and self._conflict_batch[_conflict_key(c)] <= last
            }
        )

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""
        return self._conflicts[:limit]


class MemoryDeadLetters:
    """The DeadLetters port in a list."""

    def __init__(self) -> None:
        self._dead: list[DeadLetter] = []

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons; each one once."""
        for letter in letters:
            if _letter_key(letter) not in map(_letter_key, self._dead):
                self._dead.append(letter)

    def list_dead_letters(
        self, limit: int = 1000, since: int | None = None, *, newest: bool = False
    ) -> list[DeadLetter]:
        """At most ``limit`` dead letters in the order kept; with ``since``, those received
        then or later; with ``newest``, the ``limit`` received last, newest first."""
        found = [d for d in self._dead if d.received_at >= (since or 0)]
        if newest:
            found = sorted(reversed(found), key=lambda d: d.received_at, reverse=True)
        return found[: max(limit, 0)]

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""
        return sum(1 for d in self._dead if d.received_at >= (since or 0))


class MemoryRevisions:
    """The Revisions port in a dictionary of lists."""

    def __init__(self) -> None:
        self._revisions: dict[tuple[str, str], list[FileRevision]] = {}
        self.exporting = ProcessExportLocks().exporting

    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""
        revisions = self._revisions.get((customer_id, day))
        return revisions[-1] if revisions else None

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision, or replace the newest one with the same number."""
        revisions = self._revisions.setdefault((revision.customer, revision.day), [])
        if revisions and revisions[-1].revision == revision.revision:
            revisions[-1] = revision
        else:
            revisions.append(revision)

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""
        return list(self._revisions.get((customer_id, day), []))


def _conflict_key(c: Conflict) -> tuple[object, ...]:
    return (c.meter, c.t, c.stored_fwd, c.stored_rev, c.new_fwd, c.new_rev)


def _letter_key(d: DeadLetter) -> tuple[object, ...]:
    return (d.source, d.device, d.reason, d.payload)
