"""Check published wide-layout files against a simulation's ground truth, slot by slot.

A slot the file flags ``E`` (estimated by VEE) is counted apart: an estimate is not
a measurement, so it is neither a match nor a mismatch.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kenshin.domain.energy import MWH_PER_KWH
from kenshin.domain.layouts.base import DIRECTION_LABELS
from kenshin.domain.manifest import manifest_name
from kenshin.domain.model import Customer, FlagColumns, Layout
from kenshin.domain.slots import SLOT_SECONDS, day_slots, zone
from kenshin.domain.vee import ESTIMATED
from kenshin.errors import ExportError
from kenshin.ports import Outbox

Truth = dict[tuple[str, int, str], int]
_DIRECTIONS = {label: d.value for names in DIRECTION_LABELS.values() for d, label in names.items()}


@dataclass
class Verification:
    """How the files compared with the truth."""

    files: int = 0
    slots: int = 0
    matched: int = 0
    without_value: int = 0
    estimated: int = 0
    missing: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when every slot equals the truth and no slot of the truth lacks a value."""
        return not self.mismatches and not self.missing


def load_truth(path: Path) -> Truth:
    """(meter, slot start UTC epoch s, direction) -> mWh, from a simulator's truth file."""
    truth: Truth = {}
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            start = int(datetime.fromisoformat(row["slot_start"]).timestamp())
            truth[(row["meter"], start, "fwd")] = int(row["fwd_mwh"])
            truth[(row["meter"], start, "rev")] = int(row["rev_mwh"])
    return truth


def verify_files(outbox: Outbox, customer: Customer, truth: Truth) -> Verification:
    """Compare every slot of the customer's wide files with ``truth``."""
    if customer.layout is not Layout.WIDE:
        raise ExportError(f"customer {customer.id} uses the {customer.layout} layout; need wide")
    if customer.flags is not FlagColumns.BLOCK:
        raise ExportError(f"customer {customer.id} has a flag column per slot; need a block")
    result = Verification()
    days: set[date] = set()
    names = outbox.list_files(customer.id)
    for name in names:  # the day files: those with a manifest (not change records)
        content = outbox.read(customer.id, name) if manifest_name(name) in names else None
        if content is None:
            continue
        result.files += 1
        text = content.decode(customer.encoding)
        rows = list(csv.reader(io.StringIO(text)))
        for row in rows[1:]:
            days.add(date.fromisoformat(row[1]))
            _verify_row(row, customer, truth, result)
    spans = [day_slots(day, zone(customer.timezone)) for day in days]
    in_files = sum(1 for _, start, _ in truth if any(s.start <= start < s.end for s in spans))
    result.missing = in_files - result.matched - len(result.mismatches) - result.estimated
    return result


def _verify_row(row: list[str], customer: Customer, truth: Truth, result: Verification) -> None:
    meter, day_text = row[0].removeprefix("'"), row[1]
    direction = _DIRECTIONS.get(row[2], row[2])
    start = day_slots(date.fromisoformat(day_text), zone(customer.timezone)).start
    for index, (cell, flag) in enumerate(zip(row[3:-2], row[-1], strict=True)):
        result.slots += 1
        if cell == "":
            result.without_value += 1
            continue
        slot_start = start + index * SLOT_SECONDS
        expected = truth.get((meter, slot_start, direction))
        if flag == ESTIMATED:
            result.estimated += expected is not None
            continue
        got = _mwh(cell)
        if got == expected:
            result.matched += 1
        else:
            result.mismatches.append(
                f"{meter} {direction} {day_text} slot {index + 1}: file {got} mWh, truth {expected}"
            )


def _mwh(cell: str) -> int | None:
    try:
        return int(Decimal(cell) * MWH_PER_KWH)
    except InvalidOperation:
        return None
