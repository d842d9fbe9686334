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
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

from kenshin.domain.model import Direction, FlagColumns, Layout
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
# The direction cell in Japanese (csvfiles.DIRECTION_LABELS): the record says fwd and rev.
_DIRECTIONS = {"買電": Direction.FWD.value, "売電": Direction.REV.value}
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
    """What changed between two revisions of a day file: ``count`` slots, the first
    ``LISTED_CHANGES`` of them listed (a restatement of every slot, after a change of
    settings, says how many without listing millions)."""

    changes: tuple[SlotChange, ...]
    count: int


LISTED_CHANGES = 100_000
_NO_ROW: tuple[list[str] | None, str] = (None, "")


def compare_files(
    layout: Layout,
    before: str,
    after: str,
    *,
    starts: Sequence[str],
    reported: int,
    flags: FlagColumns = FlagColumns.BLOCK,
) -> ChangeRecord:
    """The slots of ``after`` that differ from ``before``, two texts of a day file whose
    slots start at ``starts`` (local ISO times, as the long layout writes them), with
    ``flags`` placed as the customer's setting says (wide). Only the first ``reported``
    slots had ended when ``before`` was made: a later slot's first value is only filled
    in, not a change."""
    if reported <= 0:
        return ChangeRecord((), 0)
    old_lines, new_lines = _changed_lines(before, after)
    if layout == Layout.WIDE:
        per_slot = flags == FlagColumns.PER_SLOT
        return _wide_changes(old_lines, new_lines, len(starts), reported, per_slot=per_slot)
    if layout == Layout.NEM12:  # every 300 record carries its own time: parse them all
        old, new = _nem12(before, len(starts)), _nem12(after, len(starts))
    else:
        old, new = _long(old_lines, starts), _long(new_lines, starts)
    found = _slot_changes(old, new, reported)
    listed = list(islice(found, LISTED_CHANGES))
    return ChangeRecord(tuple(listed), len(listed) + sum(1 for _ in found))


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines of each text that the other does not have, in order."""
    old_lines, new_lines = before.split(CRLF), after.split(CRLF)
    old_set, new_set = set(old_lines), set(new_lines)
    return [x for x in old_lines if x not in new_set], [x for x in new_lines if x not in old_set]


def _slot_changes(old: Cells, new: Cells, reported: int) -> Iterator[SlotChange]:
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key, {}), new.get(key, {})
        for slot in sorted(s for s in was.keys() | now.keys() if s < reported):
            first, second = was.get(slot, _ABSENT), now.get(slot, _ABSENT)
            if first != second:
                yield SlotChange(key[0], key[1], slot, first, second)


def _wide_changes(
    old_lines: list[str], new_lines: list[str], count: int, reported: int, *, per_slot: bool
) -> ChangeRecord:
    """A wide row's cells are in time order. Most changed rows (a provisional day filling
    up) differ only after the reported slots: paired in file order, such a row is
    passed over after a look at its start and its flags, without splitting it."""
    # Up to the end of the reported slots' cells: meter, date, direction, then the cells
    # (each slot's kWh, and its flag where flags are per slot).
    cells = reported * (2 if per_slot else 1)
    head = re.compile(r'[^,"]*,[^,"]*,[^,"]*,(?:[^,"]*,){%d}' % cells)  # noqa: UP031
    if len(old_lines) == len(new_lines):
        rest_old, rest_new = [], []
        for was, now in zip(old_lines, new_lines, strict=True):
            match = head.match(was)
            if (
                match is not None
                and now.startswith(was[: match.end()])
                and (per_slot or was[-count:][:reported] == now[-count:][:reported])
            ):
                continue  # the same row, the same reported slots: only filled in
            rest_old.append(was)
            rest_new.append(now)
        old_lines, new_lines = rest_old, rest_new
    old, new = _wide(old_lines, count), _wide(new_lines, count)
    listed: list[SlotChange] = []
    total = 0
    for key in sorted(old.keys() | new.keys()):
        a, a_flags = old.get(key, _NO_ROW)
        b, b_flags = new.get(key, _NO_ROW)
        if a is None or b is None:  # a meter added to the file, or gone from it
            slots = list(range(reported))
        else:
            slots = [i for i in range(reported) if a[i] != b[i] or a_flags[i] != b_flags[i]]
        total += len(slots)
        for i in slots[: max(LISTED_CHANGES - len(listed), 0)]:
            first = _ABSENT if a is None else (a[i], a_flags[i])
            second = _ABSENT if b is None else (b[i], b_flags[i])
            listed.append(SlotChange(key[0], key[1], i, first, second))
    return ChangeRecord(tuple(listed), total)


def _wide(lines: list[str], count: int) -> dict[tuple[str, str], tuple[list[str] | None, str]]:
    """Each data line's slot cells and flags by (meter cell, direction)."""
    rows: dict[tuple[str, str], tuple[list[str] | None, str]] = {}
    for row in _rows(lines):
        # meter, date, direction, the slots, total, quality; or meter, date, direction,
        # each slot's kWh and flag, total. The header has labels where the flags are.
        if len(row) == count + 5:
            values, flags = row[3 : 3 + count], row[-1]
        elif len(row) == 2 * count + 4:
            values, flags = row[3 : 3 + 2 * count : 2], "".join(row[4 : 4 + 2 * count : 2])
        else:
            continue
        if len(flags) == count and flags.isupper():
            rows[(row[0], _DIRECTIONS.get(row[2], row[2]))] = (values, flags)
    return rows


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


def _long(lines: list[str], starts: Sequence[str]) -> Cells:
    slot_of = {start: slot for slot, start in enumerate(starts)}
    cells: Cells = {}
    for row in _rows(lines):
        # meter, direction, date, start, end, kwh, quality
        slot = slot_of.get(row[3]) if len(row) == 7 else None
        if slot is not None:
            key = (row[0], _DIRECTIONS.get(row[1], row[1]))
            cells.setdefault(key, {})[slot] = (row[5], row[6])
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
