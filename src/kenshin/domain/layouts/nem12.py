"""The NEM12 layout (AEMO's MDFF interval data): 100, 200, 300, 400 and 900 records.

A day is the 48 half hours of the customer's local date in the zone's standard time
(``csvfiles.file_slots``), whatever daylight saving does, and its times are standard
times too (a day first written under rules version 1 keeps its local cut). kenshin's
flags become NEM12 quality: A and N stay, Q (measured, a check failed) is A, E
(estimated) is S with AEMO's method and reason 85 (data missing). So a file reads back
with A where the day had Q, and without the estimates' methods; a missing value is 0
flagged N, and reads back as no value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from itertools import groupby
from typing import TypeVar

from kenshin.domain.change_cells import Cells, ChangeRecord, line_cells, record_of_cells
from kenshin.domain.csvcells import CRLF, KwhCells, text_cell
from kenshin.domain.daytable import DayTable
from kenshin.domain.intervals import ACTUAL, NO_VALUE, MeterDay
from kenshin.domain.layouts.base import (
    STANDARD_CUT,
    FileLayout,
    ParsedDay,
    csv_rows,
    mwh_of_cell,
    text_of_cell,
)
from kenshin.domain.model import Customer, Direction, FlagColumns, Layout
from kenshin.domain.slots import SLOT_SECONDS, DaySlots, standard_time, zone
from kenshin.domain.vee.day import ESTIMATED, QUESTIONABLE
from kenshin.domain.vee.estimate import Method
from kenshin.errors import ExportError

NEM12_PARTICIPANT = "KENSHIN"
# Each day of a meter and direction with its flags and, where VEE estimated slots, their
# methods; sorted by meter then direction.
Series = Sequence[tuple[MeterDay, str, Sequence[int] | None]]
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


def render(
    customer: Customer, slots: DaySlots, table: DayTable, cells: KwhCells, created_at: int
) -> tuple[str, str]:
    """The NEM12 text, and the same text without its two publication stamps."""
    methods = [None] * len(table) if table.methods is None else table.methods.tolist()
    series = list(zip(table.meter_days(), table.flag_texts(), methods, strict=True))
    stamp = datetime.fromtimestamp(created_at, standard_time(slots.day, zone(customer.timezone)))
    receiver = f"{NEM12_PARTICIPANT},{text_cell(customer.id)}{CRLF}"
    # Split where each 300 record's UpdateDateTime goes: joining with the stamp
    # gives the file, joining with nothing gives the content the key is made of.
    cells[None] = cells[0]  # NEM12 has no empty value: a missing one is 0, flagged N
    chunks = _nem12_chunks(slots, series, cells)
    text = f"100,NEM12,{stamp:%Y%m%d%H%M},{receiver}" + f"{stamp:%Y%m%d%H%M%S}".join(chunks)
    return text, f"100,NEM12,,{receiver}" + "".join(chunks)


def _nem12_chunks(slots: DaySlots, series: Series, cells: KwhCells) -> list[str]:
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


_T = TypeVar("_T")
_DIRECTIONS = {"E1": Direction.FWD, "B1": Direction.REV}
_FLAGS = {
    "A": ACTUAL,
    "N": NO_VALUE,
    "V": ACTUAL,
    **dict.fromkeys(_NEM12_METHODS.values(), ESTIMATED),
}


def parse(text: str, _customer: Customer) -> ParsedDay:
    """The 300 records of a NEM12 file, each under the meter and direction of its 200
    record, with the flags of its quality method and 400 records."""
    rows: list[MeterDay] = []
    flags: list[str] = []
    day = None
    key: tuple[str, Direction] | None = None
    for row in csv_rows(text):
        if row[0] == "200":
            key = (text_of_cell(row[1]), _cell(_DIRECTIONS, row[3]))
        elif row[0] == "300" and key is not None:
            day, values, quality = _interval_record(row)
            rows.append(MeterDay(*key, values))
            flags.append(_cell(_FLAGS, quality) * len(values))
        elif row[0] == "400" and flags:
            first, last, flag = int(row[1]), int(row[2]), _cell(_FLAGS, row[3])
            flags[-1] = flags[-1][: first - 1] + flag * (last - first + 1) + flags[-1][last:]
    # A missing value is written 0 flagged N: it reads back as no value.
    for i, (day_row, row_flags) in enumerate(zip(rows, flags, strict=True)):
        pairs = zip(day_row.values, row_flags, strict=True)
        blanked = tuple(None if f == NO_VALUE else v for v, f in pairs)
        rows[i] = MeterDay(day_row.meter, day_row.direction, blanked)
    return ParsedDay(day, tuple(rows), tuple(flags))


def _interval_record(row: list[str]) -> tuple[date, tuple[int | None, ...], str]:
    """A 300 record's date, values and quality method: after the values come the method,
    the reason code and its text, and the two publication stamps."""
    try:
        day = datetime.strptime(row[1], "%Y%m%d").date()
    except ValueError:
        raise ExportError(f"{row[1]!r} is not a NEM12 date (YYYYMMDD)") from None
    return day, tuple(mwh_of_cell(c) for c in row[2:-5]), row[-5]


def _cell(known: dict[str, _T], cell: str) -> _T:
    try:
        return known[cell]
    except KeyError:
        raise ExportError(f"{cell!r} is not one of {sorted(known)}") from None


# NEM12 quality and direction as a change record writes them.
_CHANGE_FLAGS = {"A": "A", "S17": "E", "S15": "E", "N": "N"}
_CHANGE_DIRECTIONS = {"E1": Direction.FWD.value, "B1": Direction.REV.value}


def changes(
    before: str, after: str, *, starts: Sequence[str], reported: int, flags: FlagColumns
) -> ChangeRecord:
    """The reported slots whose cells differ: every 300 record carries its own time, so
    both texts are read whole."""
    count = len(starts)
    return record_of_cells(_cells(before, count), _cells(after, count), reported)


def _cells(text: str, count: int) -> Cells:
    """Each 300 record's values with the flags of its quality method and 400 records,
    under the meter and direction of the 200 record before it."""
    cells: Cells = {}
    key: tuple[str, str] | None = None
    values: list[str] = []
    for row in line_cells(text.split(CRLF)):
        if row[0] == "200" and len(row) > 3:
            key = (row[1], _CHANGE_DIRECTIONS.get(row[3], row[3]))
        elif row[0] == "300" and key is not None and len(row) > 2 + count:
            values = row[2 : 2 + count]
            flag = _CHANGE_FLAGS.get(row[2 + count], row[2 + count])
            cells[key] = {slot: (v, flag) for slot, v in enumerate(values)}
        elif row[0] == "400" and key in cells and len(row) > 3 and (row[1] + row[2]).isdigit():
            flag = _CHANGE_FLAGS.get(row[3], row[3])
            for slot in range(int(row[1]) - 1, min(int(row[2]), count)):
                cells[key][slot] = (values[slot], flag)
    return cells


LAYOUT = FileLayout(Layout.NEM12, render, parse, changes, new_day_cut=STANDARD_CUT, cut_only=True)
