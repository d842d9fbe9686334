"""The long layout: a row per meter, direction and slot, with the slot's local start
and end times, its kWh and its flag."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kenshin.domain.change_cells import (
    Cells,
    ChangeRecord,
    changed_lines,
    direction_text,
    line_cells,
    record_of_cells,
)
from kenshin.domain.csvcells import CRLF, KwhCells, text_cell
from kenshin.domain.daytable import DayTable
from kenshin.domain.intervals import MeterDay
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
from kenshin.domain.model import Customer, Direction, FlagColumns, Labels, Layout
from kenshin.domain.slots import DaySlots, zone
from kenshin.errors import ExportError

LONG_LABELS: dict[Labels, tuple[str, ...]] = {
    Labels.EN: ("meter", "direction", "date", "start", "end", "kwh", "quality"),
    Labels.JA: ("計器ID", "方向", "日付", "開始", "終了", "電力量kWh", "品質"),
}


def render(
    customer: Customer, slots: DaySlots, table: DayTable, cells: KwhCells, _created_at: int
) -> tuple[str, str]:
    tz = zone(customer.timezone)
    starts = [datetime.fromtimestamp(t, tz).isoformat() for t in slots.boundaries]
    date_text = slots.day.isoformat()
    # Everything between the direction and the value is the same for every meter.
    middles = [f"{date_text},{starts[i]},{starts[i + 1]}" for i in range(slots.count)]
    lines = [",".join(map(text_cell, LONG_LABELS[customer.labels]))]
    append = lines.append
    get = cells.__getitem__
    names = DIRECTION_LABELS[customer.labels]
    for day, flags in zip(table.meter_days(), table.flag_texts(), strict=True):
        lead = f"{text_cell(day.meter)},{names[day.direction]}"
        for middle, value, flag in zip(middles, day.values, flags, strict=True):
            append(f"{lead},{middle},{get(value)},{flag}")
    append("")
    text = CRLF.join(lines)
    return text, text


def parse(text: str, _customer: Customer) -> ParsedDay:
    """The rows of a long file: each meter and direction's slots, in file order."""
    rows = csv_rows(text)
    if next(rows, None) is None:
        raise ExportError("the file is empty: a long file starts with its header")
    values: dict[tuple[str, Direction], list[int | None]] = {}
    flags: dict[tuple[str, Direction], list[str]] = {}
    day = None
    for row in rows:
        if len(row) != 7:
            raise ExportError(f"a row has {len(row)} cells; a long file's rows have 7")
        key = (text_of_cell(row[0]), direction_of_cell(row[1]))
        values.setdefault(key, []).append(None if row[5] == "" else mwh_of_cell(row[5]))
        flags.setdefault(key, []).append(row[6])
        day = day or day_of_cell(row[2])
    return ParsedDay(
        day,
        tuple(MeterDay(m, d, tuple(v)) for (m, d), v in values.items()),
        tuple("".join(f) for f in flags.values()),
    )


def changes(
    before: str, after: str, *, starts: Sequence[str], reported: int, flags: FlagColumns
) -> ChangeRecord:
    """The reported slots whose cells differ, read from the lines that differ."""
    old_lines, new_lines = changed_lines(before, after)
    return record_of_cells(_cells(old_lines, starts), _cells(new_lines, starts), reported)


def _cells(lines: list[str], starts: Sequence[str]) -> Cells:
    slot_of = {start: slot for slot, start in enumerate(starts)}
    cells: Cells = {}
    for row in line_cells(lines):
        # meter, direction, date, start, end, kwh, quality
        slot = slot_of.get(row[3]) if len(row) == 7 else None
        if slot is not None:
            key = (row[0], direction_text(row[1]))
            cells.setdefault(key, {})[slot] = (row[5], row[6])
    return cells


LAYOUT = FileLayout(Layout.LONG, render, parse, changes, row_per_slot=True)
