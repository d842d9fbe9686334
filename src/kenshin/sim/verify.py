"""Check a customer's published files, in any layout, against a simulation's ground
truth, slot by slot: each file is read back with its layout's parser.

A slot the file flags ``E`` (estimated by VEE) is counted apart: an estimate is not
a measurement, so it is neither a match nor a mismatch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from kenshin.domain.csvfiles import file_slots, new_day_cut
from kenshin.domain.intervals import MeterDay
from kenshin.domain.layouts import parse_day
from kenshin.domain.layouts.base import CUTS, ParsedDay
from kenshin.domain.manifest import manifest_name
from kenshin.domain.model import Customer
from kenshin.domain.slots import DaySlots
from kenshin.domain.vee import ESTIMATED
from kenshin.errors import ExportError
from kenshin.ports import Outbox

Truth = dict[tuple[str, int, str], int]


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
    """Compare every slot of the customer's day files with ``truth``."""
    result = Verification()
    spans: dict[date, DaySlots] = {}
    names = outbox.list_files(customer.id)
    for name in names:  # the day files: those with a manifest (not change records)
        content = outbox.read(customer.id, name) if manifest_name(name) in names else None
        if content is None:
            continue
        result.files += 1
        parsed = parse_day(customer, content)
        if parsed.day is None:  # a file without rows
            continue
        slots = spans[parsed.day] = _slots_of(customer, parsed.day, parsed)
        for row, flags in zip(parsed.rows, parsed.flags, strict=True):
            _verify_row(row, flags, slots, truth, result)
    in_files = sum(
        1 for _, start, _ in truth if any(s.start <= start < s.end for s in spans.values())
    )
    result.missing = in_files - result.matched - len(result.mismatches) - result.estimated
    return result


def _slots_of(customer: Customer, day: date, parsed: ParsedDay) -> DaySlots:
    """The slots of the file: of the day's cuts (as a new day is cut first), the one with
    as many slots as its rows (on a daylight-saving day the local and standard cuts
    differ in count; on any other day they are the same slots)."""
    count = len(parsed.rows[0].values)
    for cut in (new_day_cut(customer), *CUTS):
        slots = file_slots(customer, day, cut)
        if slots.count == count:
            return slots
    raise ExportError(f"the file of {day} has {count} slots: no cut of that day has as many")


def _verify_row(
    row: MeterDay, flags: str, slots: DaySlots, truth: Truth, result: Verification
) -> None:
    direction = row.direction.value
    for index, (mwh, flag) in enumerate(zip(row.values, flags, strict=True)):
        result.slots += 1
        if mwh is None:
            result.without_value += 1
            continue
        expected = truth.get((row.meter, slots.boundaries[index], direction))
        if flag == ESTIMATED:
            result.estimated += expected is not None
            continue
        if mwh == expected:
            result.matched += 1
        else:
            result.mismatches.append(
                f"{row.meter} {direction} {slots.day} slot {index + 1}: "
                f"file {mwh} mWh, truth {expected}"
            )
