"""Customer day files: the wide, long and NEM12 layouts, rendered to exact bytes.

Pure: a day's MeterDays and the customer's settings in, bytes out. Lines end in
CRLF; cells follow the csv module's minimal quoting; text cells are escaped
against spreadsheet formula injection; numbers are exact kWh and never quoted.
The bytes depend only on the MeterDays (in any order), the customer's settings
and, for NEM12 only, the publication time.

NEM12 (``domain.nem12``) is written as AEMO defines it: a day is the 48 half hours
of the customer's local date in the zone's standard time (``file_slots``). A day a
kenshin of rules version 1 first wrote keeps the local cut it was written with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from kenshin.domain.csvcells import CRLF, KwhCells, encode_text, text_cell, text_cells
from kenshin.domain.daytable import DayTable
from kenshin.domain.intervals import ACTUAL, NO_VALUE, MeterDay
from kenshin.domain.kwhcells import kwh_rows
from kenshin.domain.model import (
    ENCODINGS,
    Customer,
    Direction,
    FlagColumns,
    Labels,
    Layout,
    SlotLabels,
)
from kenshin.domain.nem12 import Series, nem12_text
from kenshin.domain.slots import (
    DaySlots,
    day_slots,
    slot_end_labels,
    slot_labels,
    standard_day_slots,
    zone,
)
from kenshin.domain.vee.day import ESTIMATED, QUESTIONABLE
from kenshin.errors import ExportError

# The direction column: in Japanese as customers read it on their bills, 買電 (bought
# from the grid: the normal direction) and 売電 (sold to it: the reverse direction).
DIRECTION_LABELS: dict[Labels, dict[Direction, str]] = {
    Labels.EN: {Direction.FWD: "fwd", Direction.REV: "rev"},
    Labels.JA: {Direction.FWD: "買電", Direction.REV: "売電"},
}
WIDE_LABELS: dict[Labels, tuple[str, str, str, str, str]] = {
    Labels.EN: ("meter", "date", "direction", "total_kwh", "quality"),
    Labels.JA: ("計器ID", "日付", "方向", "合計kWh", "品質"),
}
LONG_LABELS: dict[Labels, tuple[str, ...]] = {
    Labels.EN: ("meter", "direction", "date", "start", "end", "kwh", "quality"),
    Labels.JA: ("計器ID", "方向", "日付", "開始", "終了", "電力量kWh", "品質"),
}


@dataclass(frozen=True, slots=True)
class DayFile:
    """A rendered day file and what it holds.

    ``content_key`` is the SHA-256 of the file as it would be without its
    publication time, so that only a change of data or settings makes it differ.
    ``rows`` counts data rows (NEM12: 300 records); ``slots`` counts slot cells.
    """

    content: bytes
    sha256: str
    content_key: str
    rows: int
    slots: int
    actual_slots: int
    estimated_slots: int = 0


# How a day is cut into slots: its local day, or its 48 half hours of standard time.
LOCAL_CUT = "local"
STANDARD_CUT = "standard"
CUTS = (LOCAL_CUT, STANDARD_CUT)


def new_day_cut(customer: Customer) -> str:
    """How a day without a file yet is cut: NEM12 in standard time, the others local."""
    return STANDARD_CUT if customer.layout == Layout.NEM12 else LOCAL_CUT


def file_slots(customer: Customer, day: date, cut: str | None = None) -> DaySlots:
    """The slots of the customer's file of ``day`` cut as ``cut`` says (default: as a new
    day is cut): the local day, or the 48 half hours of the day in the zone's standard
    time. A day that has a file keeps the cut it was first written with."""
    tz = zone(customer.timezone)
    cut = new_day_cut(customer) if cut is None else cut
    return standard_day_slots(day, tz) if cut == STANDARD_CUT else day_slots(day, tz)


def render_day(
    customer: Customer,
    slots: DaySlots,
    days: DayTable | Sequence[MeterDay],
    *,
    created_at: int,
) -> DayFile:
    """The customer's file of one local day; ``created_at`` (UTC epoch s) is used by NEM12 only."""
    if customer.encoding not in ENCODINGS:
        raise ExportError(f"unknown encoding {customer.encoding!r}: use one of {ENCODINGS}")
    if customer.layout not in tuple(Layout):
        raise ExportError(f"unknown layout {customer.layout!r}: use one of {[*map(str, Layout)]}")
    if customer.layout == Layout.NEM12 and all(
        slots != file_slots(customer, slots.day, cut) for cut in CUTS
    ):
        raise ExportError(
            f"a NEM12 day is the 48 half hours of {slots.day} in standard time "
            f"(or its local day), not {slots.count} slots from {slots.start}"
        )
    table = (days if isinstance(days, DayTable) else _table_of(days, slots)).in_order()
    if table.values.shape[1] != slots.count:
        raise ExportError(
            f"the day's rows have {table.values.shape[1]} slot values; "
            f"{slots.day} has {slots.count} slots"
        )
    text, key_text = _layout_text(customer, slots, table, created_at)
    content = encode_text(text, customer.encoding)
    digest = hashlib.sha256(content).hexdigest()
    return DayFile(
        content=content,
        sha256=digest,
        content_key=(
            digest
            if key_text is text
            else hashlib.sha256(key_text.encode(customer.encoding)).hexdigest()
        ),
        rows=len(table) * (slots.count if customer.layout == Layout.LONG else 1),
        slots=len(table) * slots.count,
        actual_slots=table.count_flag(ACTUAL) + table.count_flag(QUESTIONABLE),
        estimated_slots=table.count_flag(ESTIMATED),
    )


def _table_of(days: Sequence[MeterDay], slots: DaySlots) -> DayTable:
    wrong = next((d for d in days if len(d.values) != slots.count), None)
    if wrong is not None:
        raise ExportError(
            f"meter {wrong.meter!r} has {len(wrong.values)} slot values; "
            f"{slots.day} has {slots.count} slots"
        )
    return DayTable.of(days, slots.count)


def _layout_text(
    customer: Customer, slots: DaySlots, table: DayTable, created_at: int
) -> tuple[str, str]:
    """The file's text, and the text its content key is made of (the same but for NEM12)."""
    cells = KwhCells(customer.decimals)
    if customer.layout == Layout.WIDE:
        text = _wide_text(customer, slots, table, cells)
        return text, text
    methods = [None] * len(table) if table.methods is None else table.methods.tolist()
    series = list(zip(table.meter_days(), table.flag_texts(), methods, strict=True))
    if customer.layout == Layout.NEM12:
        return nem12_text(customer, slots, series, cells, created_at)
    text = _long_text(customer, slots, series, cells)
    return text, text


def slot_column_labels(customer: Customer, slots: DaySlots) -> list[str]:
    """The wide layout's slot column labels, as the customer's ``slot_labels`` asks."""
    tz = zone(customer.timezone)
    if customer.slot_labels == SlotLabels.END:
        return slot_end_labels(slots, tz)
    if customer.slot_labels == SlotLabels.NUMBER:
        return [str(n) for n in range(1, slots.count + 1)]
    return slot_labels(slots, tz)


def _wide_text(customer: Customer, slots: DaySlots, table: DayTable, cells: KwhCells) -> str:
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
    return CRLF.join(lines)


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


def _long_text(customer: Customer, slots: DaySlots, series: Series, cells: KwhCells) -> str:
    tz = zone(customer.timezone)
    starts = [datetime.fromtimestamp(t, tz).isoformat() for t in slots.boundaries]
    date_text = slots.day.isoformat()
    # Everything between the direction and the value is the same for every meter.
    middles = [f"{date_text},{starts[i]},{starts[i + 1]}" for i in range(slots.count)]
    lines = [",".join(map(text_cell, LONG_LABELS[customer.labels]))]
    append = lines.append
    get = cells.__getitem__
    names = DIRECTION_LABELS[customer.labels]
    for day, flags, _ in series:
        lead = f"{text_cell(day.meter)},{names[day.direction]}"
        for middle, value, flag in zip(middles, day.values, flags, strict=True):
            append(f"{lead},{middle},{get(value)},{flag}")
    append("")
    return CRLF.join(lines)
