"""The change record of a new revision of a day file: which slots changed, from what to
what, and why.

Made from the two files as the customer got them, so that it tells exactly what
a customer's system would see change: a cell's kWh text and its quality flag. Each
layout reads its own cells (``FileLayout.changes``, in ``domain/layouts/``); the
types they share are in ``change_cells``. Only the lines that differ are parsed. A
slot that had not ended when the previous revision was made was not reported then:
its first value is not a change, only counted as filled in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from kenshin.domain.change_cells import (
    CRLF,
    LISTED_CHANGES,
    ChangeRecord,
    SlotChange,
)
from kenshin.domain.layouts import layout_named
from kenshin.domain.model import FlagColumns, Layout
from kenshin.domain.slots import DaySlots

__all__ = [
    "CHANGES_SUFFIX",
    "CHANGE_LABELS",
    "LISTED_CHANGES",
    "ChangeRecord",
    "SlotChange",
    "change_record_name",
    "change_record_text",
    "compare_files",
    "is_change_record",
    "slot_starts",
]

CHANGES_SUFFIX = ".changes.csv"
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
    ``flags`` placed as the customer's setting says (wide), read by the layout's own
    change reader. Only the first ``reported`` slots had ended when ``before`` was made:
    a later slot's first value is only filled in, not a change."""
    if reported <= 0:
        return ChangeRecord((), 0)
    read = layout_named(layout).changes
    return read(before, after, starts=starts, reported=reported, flags=flags)


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
    writer.writerows(
        (
            change.meter,
            change.direction,
            slot_starts[change.slot],
            *change.before,
            *change.after,
            change.reason,
        )
        for change in record.changes
    )
    return out.getvalue()
