"""The wide layout: a row per meter and direction, its slots as columns, then the day's
total and the slots' flags (one column of every slot's flag, or a flag column after
each slot's kWh as the customer's ``flags`` says)."""

from __future__ import annotations

import numpy as np

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


LAYOUT = FileLayout(Layout.WIDE, render, parse)
