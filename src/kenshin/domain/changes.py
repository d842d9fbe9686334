"""The change record of a new revision of a day file: which slots changed, from what to
what, and why.

Made from the two files as the customer got them, so that it tells exactly what
a customer's system would see change: a cell's kWh text and its quality flag.
Only the lines that differ are parsed. A slot that had not ended when the previous
revision was made was not reported then: its first value is not a change, only
counted as filled in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kenshin.domain.intervals import NO_VALUE
from kenshin.domain.model import Direction, Layout
from kenshin.domain.slots import DaySlots

CRLF = "\r\n"
CHANGES_SUFFIX = ".changes.csv"
# A slot as one file shows it: the kWh cell's text and the quality flag.
Cell = tuple[str, str]
# (meter cell, direction) -> slot -> cell, for the rows or slots whose lines differ.
Cells = dict[tuple[str, str], dict[int, Cell]]
_ABSENT: Cell = ("", "")  # a row or slot the file does not have at all
_NEM12_FLAGS = {"A": "A", "S17": "E", "S15": "E", "N": "N"}
_NEM12_DIRECTIONS = {"E1": Direction.FWD.value, "B1": Direction.REV.value}
CHANGE_LABELS = (
    "meter",
    "direction",
    "slot_start",
    "previous_kwh",
    "previous_quality",
    "kwh",
    "quality",
    "reason",
)


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
    """What changed between two revisions of a day file."""

    changes: tuple[SlotChange, ...]
    filled: int  # slots that had not ended at the previous revision and show a value now


def compare_files(
    layout: Layout, before: str, after: str, *, starts: Sequence[str], reported: int
) -> ChangeRecord:
    """The slots of ``after`` that differ from ``before``, two texts of a day file whose
    slots start at ``starts`` (local ISO times, as the long layout writes them). Only the
    first ``reported`` slots had ended when ``before`` was made: a later slot's first
    value is counted as filled in, not as a change."""
    if layout == Layout.NEM12:  # every 300 record carries its own time: parse them all
        old, new = _nem12(before, len(starts)), _nem12(after, len(starts))
    else:
        old_lines, new_lines = before.split(CRLF), after.split(CRLF)
        old_set, new_set = set(old_lines), set(new_lines)
        parse = _wide if layout == Layout.WIDE else _long
        old = parse([line for line in old_lines if line not in new_set], starts)
        new = parse([line for line in new_lines if line not in old_set], starts)
    changes: list[SlotChange] = []
    filled = 0
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        for slot in sorted((was or {}).keys() | (now or {}).keys()):
            first = _ABSENT if was is None else was.get(slot, _ABSENT)
            second = _ABSENT if now is None else now.get(slot, _ABSENT)
            if first == second:
                continue
            if slot >= reported and was is not None and now is not None:
                filled += second[1] != NO_VALUE
                continue
            changes.append(SlotChange(key[0], key[1], slot, first, second))
    return ChangeRecord(tuple(changes), filled)


def change_record_name(file_name: str, revision: int) -> str:
    """Name of the change record of ``revision`` of ``file_name``, published beside it."""
    return f"{file_name}.rev{revision}{CHANGES_SUFFIX}"


def is_change_record(name: str, file_name: str) -> bool:
    """Whether ``name`` is a change record of ``file_name``."""
    middle = name.removeprefix(f"{file_name}.rev").removesuffix(CHANGES_SUFFIX)
    return name.endswith(CHANGES_SUFFIX) and middle != name and middle.isdigit()


def slot_starts(slots: DaySlots, tz: ZoneInfo) -> list[str]:
    """Local start time of each slot, as the long layout and the change record write it."""
    return [datetime.fromtimestamp(t, tz).isoformat() for t in slots.boundaries[:-1]]


def change_record_text(record: ChangeRecord, slot_starts: list[str]) -> str:
    """The change record as CSV (CRLF): a header, then one line per changed slot, with the
    slot's local start time as ``slot_starts`` gives it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=CRLF)
    writer.writerow(CHANGE_LABELS)
    for change in record.changes:
        writer.writerow(
            [
                change.meter,
                change.direction,
                slot_starts[change.slot],
                *change.before,
                *change.after,
                change.reason,
            ]
        )
    return out.getvalue()


def _rows(lines: Iterable[str]) -> Iterator[list[str]]:
    """CSV cells of each line; most lines need no quoting and are split directly."""
    for line in lines:
        if not line:
            continue
        yield next(csv.reader([line])) if '"' in line else line.split(",")


def _wide(lines: list[str], starts: Sequence[str]) -> Cells:
    count = len(starts)
    cells: Cells = {}
    for row in _rows(lines):
        # meter, date, direction, the slots, total, quality; the header has labels there
        if len(row) != count + 5 or len(row[-1]) != count or not row[-1].isupper():
            continue
        flags = row[-1]
        cells[(row[0], row[2])] = {slot: (row[3 + slot], flags[slot]) for slot in range(count)}
    return cells


def _long(lines: list[str], starts: Sequence[str]) -> Cells:
    slot_of = {start: slot for slot, start in enumerate(starts)}
    cells: Cells = {}
    for row in _rows(lines):
        # meter, direction, date, start, end, kwh, quality
        slot = slot_of.get(row[3]) if len(row) == 7 else None
        if slot is not None:
            cells.setdefault((row[0], row[1]), {})[slot] = (row[5], row[6])
    return cells


def _nem12(text: str, count: int) -> Cells:
    """Each 300 record's values with the flags of its quality method and 400 records,
    under the meter and direction of the 200 record before it."""
    cells: Cells = {}
    key: tuple[str, str] | None = None
    values: list[str] = []
    for row in _rows(text.split(CRLF)):
        if row[0] == "200" and len(row) > 3:
            key = (row[1], _NEM12_DIRECTIONS.get(row[3], row[3]))
        elif row[0] == "300" and key is not None and len(row) > 2 + count:
            values = row[2 : 2 + count]
            flag = _NEM12_FLAGS.get(row[2 + count], row[2 + count])
            cells[key] = {slot: (v, flag) for slot, v in enumerate(values)}
        elif row[0] == "400" and key in cells and len(row) > 3 and (row[1] + row[2]).isdigit():
            flag = _NEM12_FLAGS.get(row[3], row[3])
            for slot in range(int(row[1]) - 1, min(int(row[2]), count)):
                cells[key][slot] = (values[slot], flag)
    return cells
