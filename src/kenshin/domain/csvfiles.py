"""Customer day files: a day rendered to exact bytes in the customer's layout
(``domain.layouts``: wide, long, NEM12) and encoding.

Pure: a day's MeterDays and the customer's settings in, bytes out. Lines end in
CRLF; cells follow the csv module's minimal quoting; text cells are escaped
against spreadsheet formula injection; numbers are exact kWh and never quoted.
The bytes depend only on the MeterDays (in any order), the customer's settings
and, for NEM12 only, the publication time.

NEM12 (``domain.layouts.nem12``) is written as AEMO defines it: a day is the 48 half hours
of the customer's local date in the zone's standard time (``file_slots``). A day a
kenshin of rules version 1 first wrote keeps the local cut it was written with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from kenshin.domain.csvcells import KwhCells, encode_text
from kenshin.domain.daytable import DayTable
from kenshin.domain.intervals import ACTUAL, MeterDay
from kenshin.domain.layouts import layout_of
from kenshin.domain.layouts.base import CUTS, LOCAL_CUT, STANDARD_CUT
from kenshin.domain.model import ENCODINGS, Customer
from kenshin.domain.slots import DaySlots, day_slots, standard_day_slots, zone
from kenshin.domain.vee.day import ESTIMATED, QUESTIONABLE
from kenshin.errors import ExportError


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


__all__ = [
    "CUTS",
    "LOCAL_CUT",
    "STANDARD_CUT",
    "DayFile",
    "file_slots",
    "new_day_cut",
    "render_day",
]


def new_day_cut(customer: Customer) -> str:
    """How a day without a file yet is cut, as its layout says: NEM12 in standard time,
    the others local."""
    return layout_of(customer).new_day_cut


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
    layout = layout_of(customer)
    if layout.cut_only and all(slots != file_slots(customer, slots.day, cut) for cut in CUTS):
        raise ExportError(
            f"a {layout.name.upper()} day is the 48 half hours of {slots.day} in standard time "
            f"(or its local day), not {slots.count} slots from {slots.start}"
        )
    table = (days if isinstance(days, DayTable) else _table_of(days, slots)).in_order()
    if table.values.shape[1] != slots.count:
        raise ExportError(
            f"the day's rows have {table.values.shape[1]} slot values; "
            f"{slots.day} has {slots.count} slots"
        )
    text, key_text = layout.render(customer, slots, table, KwhCells(customer.decimals), created_at)
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
        rows=len(table) * (slots.count if layout.row_per_slot else 1),
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
