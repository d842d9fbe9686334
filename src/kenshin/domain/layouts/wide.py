"""The wide layout: a row per meter and direction, its slots as columns, then the day's
total and the slots' flags (one column of every slot's flag, or a flag column after
each slot's kWh as the customer's ``flags`` says)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import compress
from operator import ne, or_

import numpy as np

from kenshin.domain.change_cells import (
    ABSENT,
    LISTED_CHANGES,
    ChangeRecord,
    SlotChange,
    changed_lines,
    direction_text,
    line_cells,
)
from kenshin.domain.csvcells import CRLF, KwhCells, text_cell, text_cells
from kenshin.domain.daytable import DayTable
from kenshin.domain.intervals import NO_VALUE, MeterDay
from kenshin.domain.kwhcells import kwh_rows
from kenshin.domain.layouts.base import (
    DIRECTION_LABELS,
    FileLayout,
    ParsedDay,
    csv_rows,
    day_of_cell,
    direction_of_cell,
    mwh_of_cell,
    text_of_cell,
)
from kenshin.domain.model import Customer, FlagColumns, Labels, Layout, SlotLabels
from kenshin.domain.slots import DaySlots, slot_end_labels, slot_labels, zone
from kenshin.errors import ExportError

WIDE_LABELS: dict[Labels, tuple[str, str, str, str, str]] = {
    Labels.EN: ("meter", "date", "direction", "total_kwh", "quality"),
    Labels.JA: ("計器ID", "日付", "方向", "合計kWh", "品質"),
}


def slot_column_labels(customer: Customer, slots: DaySlots) -> list[str]:
    """The slot column labels, as the customer's ``slot_labels`` asks."""
    tz = zone(customer.timezone)
    if customer.slot_labels == SlotLabels.END:
        return slot_end_labels(slots, tz)
    if customer.slot_labels == SlotLabels.NUMBER:
        return [str(n) for n in range(1, slots.count + 1)]
    return slot_labels(slots, tz)


def render(
    customer: Customer, slots: DaySlots, table: DayTable, cells: KwhCells, _created_at: int
) -> tuple[str, str]:
    meter, date_label, direction, total, quality = WIDE_LABELS[customer.labels]
    labels = slot_column_labels(customer, slots)
    per_slot = customer.flags == FlagColumns.PER_SLOT
    if per_slot:  # each slot's flag right after its kWh, and no flag block
        columns = [c for label in labels for c in (label, f"{label} {quality}")]
        header_cells = [meter, date_label, direction, *columns, total]
    else:
        header_cells = [meter, date_label, direction, *labels, total, quality]
    date_text = slots.day.isoformat()
    names = DIRECTION_LABELS[customer.labels]
    meters = text_cells(table.meters)
    flags = table.flag_texts()
    values = _cell_rows(table, cells)
    lines = [",".join(map(text_cell, header_cells))]
    if per_slot:
        lines.extend(
            f"{m},{date_text},{names[d]},{_interleaved(v, f)}"
            for m, d, v, f in zip(meters, table.directions, values, flags, strict=True)
        )
    else:
        lines.extend(
            f"{m},{date_text},{names[d]},{v},{f}"
            for m, d, v, f in zip(meters, table.directions, values, flags, strict=True)
        )
    lines.append("")
    text = CRLF.join(lines)
    return text, text


def _interleaved(values: str, flags: str) -> str:
    """Slot cells and total (joined by commas) with each slot's flag after its cell."""
    cells = values.split(",")  # numbers and empty cells: no quoting
    return ",".join([f"{c},{f}" for c, f in zip(cells, flags, strict=False)] + cells[-1:])


def _cell_rows(table: DayTable, cells: KwhCells) -> list[str]:
    """Each row's slot cells and its total, joined by commas; a row without any value has
    an empty total, as its slots are empty (a total of 0 would claim no consumption)."""
    totals = np.array(table.totals(), table.values.dtype).reshape(-1, 1)
    no_value = table.flags == ord(NO_VALUE)
    empty = no_value.all(axis=1, keepdims=True)
    if table.values.dtype == np.int64:
        blank = np.hstack([no_value, empty])
        return kwh_rows(np.hstack([table.values, totals]), blank, cells.decimals)
    return [
        ",".join([*map(cells.__getitem__, day.values), "" if none else cells.format(total)])
        for day, total, none in zip(table.meter_days(), totals[:, 0], empty[:, 0], strict=True)
    ]


def parse(text: str, customer: Customer) -> ParsedDay:
    """The rows of a wide file with the customer's ``flags`` setting."""
    rows = csv_rows(text)
    header = next(rows, None)
    if header is None:
        raise ExportError("the file is empty: a wide file starts with its header")
    per_slot = customer.flags == FlagColumns.PER_SLOT
    count = (len(header) - 4) // 2 if per_slot else len(header) - 5
    day = None
    parsed: list[MeterDay] = []
    flags: list[str] = []
    for row in rows:
        if len(row) != len(header):
            raise ExportError(f"a row has {len(row)} cells; the header has {len(header)}")
        cells = row[3 : 3 + 2 * count : 2] if per_slot else row[3 : 3 + count]
        flags.append("".join(row[4 : 4 + 2 * count : 2]) if per_slot else row[-1])
        values = [None if c == "" else mwh_of_cell(c) for c in cells]
        parsed.append(MeterDay(text_of_cell(row[0]), direction_of_cell(row[2]), tuple(values)))
        day = day or day_of_cell(row[1])
    return ParsedDay(day, tuple(parsed), tuple(flags))


# A row's slot cells (as one text, the total after them, until they are needed) and its
# flags; None, "": a row the file does not have.
_Row = tuple[str | list[str] | None, str]
_NO_ROW: _Row = (None, "")


def changes(
    before: str, after: str, *, starts: Sequence[str], reported: int, flags: FlagColumns
) -> ChangeRecord:
    """A wide row's cells are in time order. Most changed rows (a provisional day filling
    up) differ only after the reported slots: paired in file order, such a row is
    passed over after a look at its start and its flags, without splitting it. A row
    whose cells are the same text (a new validation restating flags) is not split
    unless its changes are listed."""
    old_lines, new_lines = changed_lines(before, after)
    count, per_slot = len(starts), flags == FlagColumns.PER_SLOT
    if len(old_lines) == len(new_lines):
        old_lines, new_lines = _unfilled(old_lines, new_lines, count, reported, per_slot)
    old, new = _rows(old_lines, count), _rows(new_lines, count)
    listed: list[SlotChange] = []
    total = 0
    for key in sorted(old.keys() | new.keys()):
        a, a_flags = old.get(key, _NO_ROW)
        b, b_flags = new.get(key, _NO_ROW)
        if a is None or b is None:  # a meter added to the file, or gone from it
            slots: Sequence[int] = range(reported)
        else:
            slots = _changed_slots((a, a_flags), (b, b_flags), reported)
        total += len(slots)
        room = LISTED_CHANGES - len(listed)
        if room > 0 and slots:
            a_cells, b_cells = _cells(a), _cells(b)
            listed += [
                SlotChange(
                    key[0],
                    key[1],
                    i,
                    ABSENT if a_cells is None else (a_cells[i], a_flags[i]),
                    ABSENT if b_cells is None else (b_cells[i], b_flags[i]),
                )
                for i in slots[:room]
            ]
    return ChangeRecord(tuple(listed), total)


def _cells(row: str | list[str] | None) -> list[str] | None:
    """A row's slot cells (then its total), split if they are still one text."""
    return None if row is None else _split(row)


def _split(row: str | list[str]) -> list[str]:
    return row.split(",") if isinstance(row, str) else row


def _changed_slots(
    old: tuple[str | list[str], str], new: tuple[str | list[str], str], reported: int
) -> list[int]:
    """The reported slots whose cell or flag differ between two rows of a meter."""
    (a, a_flags), (b, b_flags) = old, new
    if a == b:  # the same cells (most often the same text): the flags alone tell
        return list(compress(range(reported), map(ne, a_flags, b_flags)))
    differ = map(or_, map(ne, _split(a), _split(b)), map(ne, a_flags, b_flags))
    return list(compress(range(reported), differ))


def _unfilled(
    old_lines: list[str], new_lines: list[str], count: int, reported: int, per_slot: bool
) -> tuple[list[str], list[str]]:
    """The pairs of lines (in file order) that differ in more than slots filled in after
    the reported ones: the same start and the same reported slots' flags."""
    # Up to the end of the reported slots' cells: meter, date, direction, then the cells
    # (each slot's kWh, and its flag where flags are per slot).
    cells = reported * (2 if per_slot else 1)
    head = re.compile(r'[^,"]*,[^,"]*,[^,"]*,(?:[^,"]*,){%d}' % cells)  # noqa: UP031
    rest_old, rest_new = [], []
    for was, now in zip(old_lines, new_lines, strict=True):
        # The flags first: a restatement changes them, and is told without the pattern.
        if (per_slot or was[-count:][:reported] == now[-count:][:reported]) and (
            (match := head.match(was)) is not None and now.startswith(was[: match.end()])
        ):
            continue  # the same row, the same reported slots: only filled in
        rest_old.append(was)
        rest_new.append(now)
    return rest_old, rest_new


def _rows(lines: list[str], count: int) -> dict[tuple[str, str], _Row]:
    """Each data line's slot cells and flags by (meter cell, direction). A line without
    quotes and with the flags in one cell keeps its slot cells and total as one text."""
    rows: dict[tuple[str, str], _Row] = {}
    for line in lines:
        if line.count(",") == count + 4 and '"' not in line:
            # meter, date, direction, the slots, total, quality: cut where the cells are.
            meter, _, direction, rest = line.split(",", 3)
            cells, _, flags = rest.rpartition(",")
            if len(flags) == count and flags.isupper():
                rows[(meter, direction_text(direction))] = (cells, flags)
            continue
        for row in line_cells([line]):
            # meter, date, direction, the slots, total, quality; or meter, date,
            # direction, each slot's kWh and flag, total. The header has labels where
            # the flags are.
            if len(row) == count + 5:
                values, flags = row[3 : 3 + count], row[-1]
            elif len(row) == 2 * count + 4:
                values = row[3 : 3 + 2 * count : 2]
                flags = "".join(row[4 : 4 + 2 * count : 2])
            else:
                continue
            if len(flags) == count and flags.isupper():
                rows[(row[0], direction_text(row[2]))] = (values, flags)
    return rows


LAYOUT = FileLayout(Layout.WIDE, render, parse, changes)
