"""What a customer file layout is: a renderer, a parser and a change reader registered
under its name.

A layout renders a day's ``DayTable`` as text (``render``), reads such a text back
(``parse``) to the meters, directions, slot values, flags and day it was made of, and
reads the slots that differ between two of its texts (``changes``, for the change
record of a new revision), so that all three are kept together and tested against
each other.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, InvalidOperation

from kenshin.domain.change_cells import ReadChanges
from kenshin.domain.csvcells import KwhCells
from kenshin.domain.daytable import DayTable
from kenshin.domain.energy import MWH_PER_KWH
from kenshin.domain.intervals import MeterDay
from kenshin.domain.model import Customer, Direction, Labels, Layout
from kenshin.domain.slots import DaySlots
from kenshin.errors import ExportError

# How a day is cut into slots: its local day, or its 48 half hours of standard time.
LOCAL_CUT = "local"
STANDARD_CUT = "standard"
CUTS = (LOCAL_CUT, STANDARD_CUT)

# The direction column: in Japanese as customers read it on their bills, 買電 (bought
# from the grid: the normal direction) and 売電 (sold to it: the reverse direction).
DIRECTION_LABELS: dict[Labels, dict[Direction, str]] = {
    Labels.EN: {Direction.FWD: "fwd", Direction.REV: "rev"},
    Labels.JA: {Direction.FWD: "買電", Direction.REV: "売電"},
}
DIRECTIONS = {label: d for names in DIRECTION_LABELS.values() for d, label in names.items()}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EXACT = Context(prec=200)  # enough digits for any kWh cell: no rounding

# The text of a day and the text its content key is made of (the same but where the
# file holds its publication time): customer, slots, rows in order, kWh cells, created at.
Render = Callable[[Customer, DaySlots, DayTable, KwhCells, int], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ParsedDay:
    """What a day file holds: its day (None for a file without rows: it does not say),
    each row's meter, direction and slot values in mWh (None: no value), and flags."""

    day: date | None
    rows: tuple[MeterDay, ...]
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileLayout:
    """A layout: ``render`` makes a day's text, ``parse`` reads one back (the customer's
    settings say its labels and columns), ``changes`` lists the slots that differ between
    two of its texts; ``row_per_slot`` when each slot is a row of
    its own; ``new_day_cut`` how a day without a file yet is cut into slots, and
    ``cut_only`` when a day must be one of the cuts (NEM12), not any run of slots."""

    name: Layout
    render: Render
    parse: Callable[[str, Customer], ParsedDay]
    changes: ReadChanges
    row_per_slot: bool = False
    new_day_cut: str = LOCAL_CUT
    cut_only: bool = False


def csv_rows(text: str) -> Iterator[list[str]]:
    """The cells of each line of ``text`` (CRLF lines, minimal quoting)."""
    return csv.reader(text.splitlines(keepends=True))


def text_of_cell(cell: str) -> str:
    """The text a text cell was written from: a formula start defused with ``'`` restored
    (a text that itself starts with ``'`` and a formula start reads back without it)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def mwh_of_cell(cell: str) -> int:
    """The exact mWh of a kWh cell; ExportError if it is not one."""
    try:
        mwh = _EXACT.multiply(Decimal(cell), MWH_PER_KWH)
    except InvalidOperation:
        mwh = Decimal("NaN")
    if not mwh.is_finite() or mwh != mwh.to_integral_value() or cell.strip() != cell:
        raise ExportError(f"{cell!r} is not a kWh value to the mWh")
    return int(mwh)


def direction_of_cell(cell: str) -> Direction:
    """The direction a direction cell names, in English or Japanese labels."""
    try:
        return DIRECTIONS[cell]
    except KeyError:
        raise ExportError(f"{cell!r} is not a direction: use one of {sorted(DIRECTIONS)}") from None


def day_of_cell(cell: str) -> date:
    """The day a date cell (YYYY-MM-DD) names."""
    try:
        return date.fromisoformat(cell)
    except ValueError:
        raise ExportError(f"{cell!r} is not a date (YYYY-MM-DD)") from None
