"""Customer day files: the wide, long and NEM12 layouts, rendered to exact bytes.

Pure: a day's MeterDays and the customer's settings in, bytes out. Lines end in
CRLF; cells follow the csv module's minimal quoting; text cells are escaped
against spreadsheet formula injection; numbers are exact kWh and never quoted.
The bytes depend only on the MeterDays (in any order), the customer's settings
and, for NEM12 only, the publication time.

NEM12 is written as AEMO defines it: a day is the 48 half hours of the customer's
local date in the zone's standard time (``file_slots``), whatever daylight saving
does, and its times are standard times too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from itertools import groupby

import numpy as np

from kenshin.domain.daytable import DayTable
from kenshin.domain.energy import KwhFormatter
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
from kenshin.domain.slots import (
    SLOT_SECONDS,
    DaySlots,
    day_slots,
    slot_end_labels,
    slot_labels,
    standard_day_slots,
    standard_time,
    zone,
)
from kenshin.domain.vee.day import ESTIMATED, QUESTIONABLE
from kenshin.domain.vee.estimate import Method
from kenshin.errors import ExportError

CRLF = "\r\n"
NEM12_PARTICIPANT = "KENSHIN"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED_CHARS = frozenset(',"\r\n')
# A cell that starts like a formula, or holds a character that needs quoting.
_NEEDS_CARE = re.compile(r'(?:^|\n)[=+\-@\t\r]|[,"\r]')
_CACHE_LIMIT = 200_000
# The direction column: in Japanese as customers read it on their bills, 買電 (bought
# from the grid: the normal direction) and 売電 (sold to it: the reverse direction).
DIRECTION_LABELS: dict[Labels, dict[Direction, str]] = {
    Labels.EN: {Direction.FWD: "fwd", Direction.REV: "rev"},
    Labels.JA: {Direction.FWD: "買電", Direction.REV: "売電"},
}

# Each day of a meter and direction with its flags and, where VEE estimated slots, their
# methods; sorted by meter then direction.
_Series = Sequence[tuple[MeterDay, str, Sequence[int] | None]]
# NEM12 quality of an estimated slot: S (substituted) with the method of AEMO's
# metrology procedure for interval meters: 17 linear, 15 average like day.
_NEM12_METHODS = {
    Method.LINEAR: "S17",
    Method.LIKE_DAY_SCALED: "S15",
    Method.LIKE_DAY: "S15",
}
# MDFF requires a reason code with a substitution: 85, data missing (kenshin estimates
# only slots whose readings are missing).
NEM12_SUBSTITUTION_REASON = "85"
_NEM12_ACTUAL = frozenset((ACTUAL, QUESTIONABLE))  # a questionable slot is a measured one

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


def text_cell(value: str) -> str:
    """A text cell as written: formula starts defused with ``'``, then minimal CSV quoting."""
    if value.startswith(_FORMULA_STARTS):
        value = "'" + value
    if _QUOTED_CHARS.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def text_cells(values: Sequence[str]) -> Sequence[str]:
    """``text_cell`` of each value; a whole column needing no change is returned as it is."""
    joined = "\n".join(values)
    # One scan in C instead of a call per cell; a newline in a value needs quoting too.
    if joined.count("\n") == len(values) - 1 and not _NEEDS_CARE.search(joined):
        return values
    return [text_cell(v) for v in values]


def file_slots(customer: Customer, day: date) -> DaySlots:
    """The slots of the customer's file of ``day``: those of the local day, but for NEM12
    the 48 half hours of the day in the zone's standard time."""
    tz = zone(customer.timezone)
    return standard_day_slots(day, tz) if customer.layout == Layout.NEM12 else day_slots(day, tz)


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
    if customer.layout == Layout.NEM12 and slots != file_slots(customer, slots.day):
        raise ExportError(
            f"a NEM12 day is the 48 half hours of {slots.day} in standard time, "
            f"not {slots.count} slots from {slots.start}"
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
        return _nem12_text(customer, slots, series, cells, created_at)
    text = _long_text(customer, slots, series, cells)
    return text, text


class KwhCells(dict[int | None, str]):
    """Cell text of slot values (mWh, None = empty), formatted once per distinct value."""

    def __init__(self, decimals: int) -> None:
        try:
            self.format = KwhFormatter(decimals)
            self.decimals = decimals
        except ValueError as exc:
            raise ExportError(f"decimals must be between 0 and 6, not {decimals}") from exc
        super().__init__({None: ""})

    def __missing__(self, mwh: int | None) -> str:
        text = self.format(mwh or 0)
        # Bounded so that a day of all-distinct values cannot grow the cache without limit.
        if len(self) < _CACHE_LIMIT:
            self[mwh] = text
        return text


def encode_text(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding``; ExportError naming the line and cell that cannot be encoded."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        line_no = text.count("\n", 0, exc.start) + 1
        line_start = text.rfind("\n", 0, exc.start) + 1
        cells = next(csv.reader(io.StringIO(text[line_start:], newline="")))
        bad = next((i for i, c in enumerate(cells) if not _encodable(c, encoding)), len(cells) - 1)
        raise ExportError(
            f"line {line_no}, column {bad + 1} ({cells[bad]!r}) cannot be written in "
            f"{encoding}: {exc.object[exc.start : exc.end]!r}"
        ) from exc


def _encodable(cell: str, encoding: str) -> bool:
    try:
        cell.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


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


def _long_text(customer: Customer, slots: DaySlots, series: _Series, cells: KwhCells) -> str:
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


def _nem12_text(
    customer: Customer,
    slots: DaySlots,
    series: _Series,
    cells: KwhCells,
    created_at: int,
) -> tuple[str, str]:
    """The NEM12 text, and the same text without its two publication stamps."""
    standard: tzinfo = standard_time(slots.day, zone(customer.timezone))
    stamp = datetime.fromtimestamp(created_at, standard)
    receiver = f"{NEM12_PARTICIPANT},{text_cell(customer.id)}{CRLF}"
    # Split where each 300 record's UpdateDateTime goes: joining with the stamp
    # gives the file, joining with nothing gives the content the key is made of.
    cells[None] = cells[0]  # NEM12 has no empty value: a missing one is 0, flagged N
    chunks = _nem12_chunks(slots, series, cells)
    text = f"100,NEM12,{stamp:%Y%m%d%H%M},{receiver}" + f"{stamp:%Y%m%d%H%M%S}".join(chunks)
    return text, f"100,NEM12,,{receiver}" + "".join(chunks)


def _nem12_chunks(slots: DaySlots, series: _Series, cells: KwhCells) -> list[str]:
    with_reverse = {d.meter for d, _, _ in series if d.direction == Direction.REV}
    date_text = f"{slots.day:%Y%m%d}"
    interval = SLOT_SECONDS // 60
    get = cells.__getitem__
    chunks: list[str] = []
    pending = ""
    for day, flags, methods in series:
        meter = text_cell(day.meter)
        config = "E1B1" if day.meter in with_reverse else "E1"
        suffix = "E1" if day.direction == Direction.FWD else "B1"
        measured = _NEM12_ACTUAL.issuperset(flags)
        method = ACTUAL if measured else "V"
        chunks.append(
            f"{pending}200,{meter},{config},{suffix},{suffix},,{meter},KWH,{interval},{CRLF}"
            f"300,{date_text},{','.join(map(get, day.values))},{method},,,"
        )
        pending = f",{CRLF}" + ("" if measured else _nem12_runs(flags, methods))
    chunks.append(f"{pending}900{CRLF}")
    return chunks


def _nem12_runs(flags: str, methods: Sequence[int] | None) -> str:
    """400 records: one per run of equal quality, slots numbered from 1."""
    codes = [
        ACTUAL if f == QUESTIONABLE else _NEM12_METHODS[Method(m)] if f == ESTIMATED else f
        for f, m in zip(flags, methods or [0] * len(flags), strict=True)
    ]
    records = []
    start = 1
    for flag, run in groupby(codes):
        end = start + len(list(run)) - 1
        reason = NEM12_SUBSTITUTION_REASON if flag.startswith("S") else ""
        records.append(f"400,{start},{end},{flag},{reason},{CRLF}")
        start = end + 1
    return "".join(records)
