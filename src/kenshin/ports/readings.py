"""The readings ports: register readings and their conflicts, the dead letters of messages
that could not be used, and the revisions of customers' files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from kenshin.domain.intervals import Registers
from kenshin.domain.model import Conflict, DeadLetter, FileRevision, Reading, StoreResult, Watermark


class Readings(Protocol):
    """Register readings, idempotent on (meter, t): the same reading again is a duplicate
    and changes nothing; a reading that fills a register the stored one lacked (fwd or
    rev None) completes it; a different value for a register already stored is a
    Conflict, kept aside and never overwriting the stored reading. A reading with
    neither register carries nothing and counts as a duplicate. Register values are
    0..MAX_REGISTER (domain.energy); a batch with any other value raises StoreError
    and stores nothing.

    Each batch stored gets the next number of a monotonic sequence (``last_batch``);
    reads ``as_of`` a watermark see the readings of its batch and earlier ones only.
    Any backend can keep such a number (a counter) and a batch number per reading.
    """

    def add_readings(self, readings: Sequence[Reading], received_at: int) -> StoreResult:
        """Store a batch in one transaction; see the class docstring for the rules."""

    def readings_between(
        self, meter_ids: Sequence[str], start: int, end: int
    ) -> Iterator[tuple[str, list[Reading]]]:
        """Each listed meter that has readings with start <= t <= end, with them sorted by t."""

    def boundary_registers(
        self, meter_ids: Sequence[str], start: int, count: int, as_of: Watermark | None = None
    ) -> tuple[Registers, Registers]:
        """Forward and reverse registers of the listed meters at ``start + i * 1800`` for
        i in 0..count: one row per meter in the order listed (count + 1 columns), with
        NO_REGISTER (domain.intervals) where there is no reading; with ``as_of``, only
        the readings of its batch and earlier ones.

        This is the bulk read of a day's export: it must be fast for 100,000 meters.
        """

    def last_batch(self) -> int:
        """The number of the newest batch stored (0 if none): reads ``as_of`` a watermark
        with it see what is stored now, and never what is stored later."""

    def newest_batch(self, start: int, end: int) -> int:
        """The newest batch that stored, completed or conflicted with a reading of a UTC
        day touching start..end (epoch s); 0 if none. A final day whose file was made
        as of an older batch may have changed since."""

    def conflicts_between(
        self, meter_ids: Sequence[str], start: int, end: int, as_of: Watermark | None = None
    ) -> list[tuple[str, int]]:
        """(meter, t) of the listed meters' conflicting readings with start <= t <= end;
        with ``as_of``, those kept by its batch."""

    def list_conflicts(self, limit: int = 1000) -> list[Conflict]:
        """Conflicting readings kept aside, oldest first."""


@runtime_checkable
class Compacting(Protocol):
    """An optional capability of a readings store that can make closed days faster to
    read: the schedule offers it the days that ended, and a store without it reads fast
    anyway."""

    def compact(self, before: int) -> int:
        """Make the days that ended at or before ``before`` (UTC epoch s) fast to read
        with ``boundary_registers``; how many days that took. Readings stay as they are,
        and later ones still count.
        """


@runtime_checkable
class Settling(Protocol):
    """An optional capability of a readings store that keeps old days in fewer bytes
    (their packed days become the record): the schedule offers it the days old enough
    that late readings are rare, and a store without it keeps them as they are."""

    def settle(self, before: int, most: int) -> int:
        """Keep the days that ended at or before ``before`` (UTC epoch s) in fewer bytes,
        ``most`` days at most, the oldest first; how many days that took. Nothing reads
        otherwise: a later reading of such a day is told duplicate, completion or
        conflict as before, and reads as of a batch see what they saw."""


@runtime_checkable
class ReadingDays(Protocol):
    """An optional capability of a readings store that reads the boundary registers of
    several days of the same meters faster at once than one after another: the export
    reads a day and its like days so."""

    def boundary_registers_of_days(
        self,
        meter_ids: Sequence[str],
        starts: Sequence[int],
        count: int,
        as_of: Watermark | None = None,
    ) -> list[tuple[Registers, Registers]]:
        """``boundary_registers`` from each of ``starts`` (``count`` slots each), in order."""


@runtime_checkable
class Expiring(Protocol):
    """An optional capability of a readings store that can drop old readings in bulk
    (whole partitions): the schedule offers it the retention's cutoff, and a store
    without it keeps every reading."""

    def expire(self, before: int) -> int:
        """Drop the readings older than ``before`` (UTC epoch s) in the units the store
        keeps them in, each only when wholly older: none newer ever goes, and some older
        may stay until their unit is. Their conflicts go too; how many readings went.
        """


class DeadLetters(Protocol):
    """Messages that could not be used, kept with their reasons."""

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages that could not be used, with their reasons."""

    def list_dead_letters(
        self, limit: int = 1000, since: int | None = None, *, newest: bool = False
    ) -> list[DeadLetter]:
        """At most ``limit`` dead letters in the order kept; with ``since``, those received
        then or later, by when received; with ``newest``, the ``limit`` received last,
        newest first."""

    def count_dead_letters(self, since: int | None = None) -> int:
        """How many dead letters are kept; with ``since``, those received then or later."""


class Revisions(Protocol):
    """The published revisions of each customer's day files."""

    def latest_revision(self, customer_id: str, day: str) -> FileRevision | None:
        """The newest revision of a customer's day file, or None."""

    def add_revision(self, revision: FileRevision) -> None:
        """Record a published revision (or a status change of the newest one)."""

    def list_revisions(self, customer_id: str, day: str) -> list[FileRevision]:
        """Every revision of a customer's day file, oldest first."""

    def exporting(self, customer_id: str) -> AbstractContextManager[None]:
        """Held by one export of the customer's files, from reading the newest revision to
        recording its own: another export of them, in this process or another using the
        store, waits its turn (two at once would publish different files under one
        revision number)."""
