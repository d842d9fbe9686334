"""What a change record is made of, shared by every layout's change reader: a slot as
a file shows it (its kWh cell's text and its quality flag), a slot that changed and
why, the record of a revision, and the helpers that read changed lines into cells.

Each layout (``domain/layouts/``) reads its own cells (``FileLayout.changes``);
``changes.compare_files`` picks the reader by the layout's name.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, islice
from operator import ne
from typing import Protocol

from kenshin.domain.model import Direction, FlagColumns

CRLF = "\r\n"
# A slot as one file shows it: the kWh cell's text and the quality flag.
Cell = tuple[str, str]
# (meter cell, direction) -> slot -> cell, for the rows or slots whose lines differ.
Cells = dict[tuple[str, str], dict[int, Cell]]
ABSENT: Cell = ("", "")  # a row or slot the file does not have at all
# The direction cell in Japanese (layouts.base.DIRECTION_LABELS): the record says fwd and rev.
_DIRECTIONS = {"買電": Direction.FWD.value, "売電": Direction.REV.value}
LISTED_CHANGES = 100_000
# Lines that differ at their place, up to which each is looked for in the other text (a
# scan of its lines, cheaper than a set of them).
_FEW_PLACES = 16


@dataclass(frozen=True, slots=True)
class SlotChange:
    """One slot that a new revision shows differently from the previous one."""

    meter: str  # as the file writes it
    direction: str
    slot: int
    before: Cell
    after: Cell

    @property
    def reason(self) -> str:
        """Why the slot changed, from its flags before and after."""
        was, now = self.before[1], self.after[1]
        if was == "":
            return "meter added to the file"
        if now == "":
            return "meter no longer in the file"
        return _REASONS.get((was, now), _SAME_FLAG.get(now, "value changed"))


_REASONS = {
    ("N", "A"): "late reading filled the gap",
    ("N", "Q"): "late reading filled the gap; it failed a check",
    ("E", "A"): "late reading replaced the estimate",
    ("E", "Q"): "late reading replaced the estimate; it failed a check",
    ("N", "E"): "gap estimated",
    ("A", "Q"): "failed a check on a new validation",
    ("Q", "A"): "passed the checks on a new validation",
    ("A", "E"): "measured value withdrawn and estimated",
    ("Q", "E"): "measured value withdrawn and estimated",
    ("A", "N"): "measured value withdrawn",
    ("Q", "N"): "measured value withdrawn",
    ("E", "N"): "estimate withdrawn",
}
_SAME_FLAG = {
    "E": "estimate recomputed",
    "A": "measured value restated",
    "Q": "measured value restated",
}


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """What changed between two revisions of a day file: ``count`` slots, the first
    ``LISTED_CHANGES`` of them listed (a restatement of every slot, after a change of
    settings, says how many without listing millions)."""

    changes: tuple[SlotChange, ...]
    count: int


class ReadChanges(Protocol):
    """A layout's change reader: the slots of ``after`` that differ from ``before``, two
    texts of a day file whose slots start at ``starts`` (local ISO times, as the long
    layout writes them), with ``flags`` placed as the customer's setting says. Only the
    first ``reported`` slots (at least one) had ended when ``before`` was made."""

    def __call__(
        self,
        before: str,
        after: str,
        *,
        starts: Sequence[str],
        reported: int,
        flags: FlagColumns,
    ) -> ChangeRecord: ...


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines of each text that the other does not have, in order. Where the texts
    differ at a few places only, line for line, the lines there are looked for in the
    other text one by one; else each text's lines are put in a set."""
    old_lines, new_lines = before.split(CRLF), after.split(CRLF)
    if len(old_lines) == len(new_lines):
        places = list(compress(range(len(old_lines)), map(ne, old_lines, new_lines)))
        if len(places) <= _FEW_PLACES:  # a line the same at its place is in the other text
            return (
                [old_lines[i] for i in places if old_lines[i] not in new_lines],
                [new_lines[i] for i in places if new_lines[i] not in old_lines],
            )
    old_set, new_set = set(old_lines), set(new_lines)
    return [x for x in old_lines if x not in new_set], [x for x in new_lines if x not in old_set]


def record_of_cells(old: Cells, new: Cells, reported: int) -> ChangeRecord:
    """The change record of two files' cells: the reported slots whose cells differ, by
    meter, direction and slot."""
    found = _slot_changes(old, new, reported)
    listed = list(islice(found, LISTED_CHANGES))
    return ChangeRecord(tuple(listed), len(listed) + sum(1 for _ in found))


def _slot_changes(old: Cells, new: Cells, reported: int) -> Iterator[SlotChange]:
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key, {}), new.get(key, {})
        for slot in sorted(s for s in was.keys() | now.keys() if s < reported):
            first, second = was.get(slot, ABSENT), now.get(slot, ABSENT)
            if first != second:
                yield SlotChange(key[0], key[1], slot, first, second)


def line_cells(lines: Iterable[str]) -> Iterator[list[str]]:
    """CSV cells of each line; most lines need no quoting and are split directly."""
    for line in lines:
        if not line:
            continue
        yield next(csv.reader([line])) if '"' in line else line.split(",")


def direction_text(cell: str) -> str:
    """The direction as a change record writes it: fwd or rev, whatever the labels."""
    return _DIRECTIONS.get(cell, cell)
