"""Cells of customer files as text: text cells escaped against spreadsheet formula
injection and quoted only where CSV needs it; kWh cells exact from integer mWh; the
text in the customer's encoding, or an error naming the cell that cannot be written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from kenshin.domain.energy import KwhFormatter
from kenshin.errors import ExportError

CRLF = "\r\n"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula
_QUOTED_CHARS = frozenset(',"\r\n')
# A cell that starts like a formula, or holds a character that needs quoting.
_NEEDS_CARE = re.compile(r'(?:^|\n)[=+\-@\t\r]|[,"\r]')
_CACHE_LIMIT = 200_000


def defused(value: str) -> str:
    """``value`` as a spreadsheet reads it as text: ``'`` before a formula start (OWASP's
    advice against CSV injection), else as it is."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def text_cell(value: str) -> str:
    """A text cell as written: formula starts defused with ``'``, then minimal CSV quoting."""
    value = defused(value)
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
