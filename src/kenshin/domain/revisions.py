"""A day file's revisions: which one a new build of the day makes, and whether it is final.

A day is provisional until ``grace_hours`` after its end, then final. A file is
published again only when its content changes (a new revision, numbered after the
newest); once final, always final: a final day that changes later is restated, not
drafted again. A day keeps the file settings and the cut it was first written with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from kenshin.domain.csvfiles import LOCAL_CUT, new_day_cut
from kenshin.domain.energy import SECONDS_PER_HOUR
from kenshin.domain.made_with import made_with_from_json
from kenshin.domain.manifest import Manifest
from kenshin.domain.model import FILE_SETTINGS, Customer, FileRevision
from kenshin.domain.slots import SLOT_SECONDS, DaySlots

PROVISIONAL = "provisional"
FINAL = "final"


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The build shows what the newest revision shows: nothing new to publish.
    ``revision`` is the newest as it should now stand: ``finalised`` when only its status
    changes, to final, now that its day is."""

    revision: FileRevision
    finalised: bool = False


@dataclass(frozen=True, slots=True)
class NewRevision:
    """The build is a new revision: its number and its status."""

    number: int
    status: str


def status_at(now: int, day_end: int, grace_hours: int) -> str:
    """A day's status at ``now``: final from ``grace_hours`` after its end (UTC epoch s)."""
    return FINAL if now >= day_end + grace_hours * SECONDS_PER_HOUR else PROVISIONAL


def next_revision(
    latest: FileRevision | None, content_key: str, file_name: str, status: str
) -> Unchanged | NewRevision:
    """What a build of the day with ``content_key`` under ``file_name`` makes, given the
    day's newest revision (None: no file yet) and the day's ``status`` now."""
    if latest is None:
        return NewRevision(1, status)
    if latest.content_key == content_key and latest.file_name == file_name:
        if latest.status == PROVISIONAL and status == FINAL:
            return Unchanged(replace(latest, status=FINAL), finalised=True)
        return Unchanged(latest)
    # Once final, always final: a later change is a restatement, not a new draft.
    return NewRevision(latest.revision + 1, FINAL if latest.status == FINAL else status)


def restated(revision: FileRevision, earlier: list[FileRevision]) -> bool:
    """Whether ``revision`` restates a day already final in an earlier revision."""
    return any(r.status == FINAL and r.revision < revision.revision for r in earlier)


def reported_slots(latest: FileRevision, slots: DaySlots) -> int:
    """How many of the day's slots had begun when ``latest`` was made: the slots its
    file could report."""
    return min(max((latest.created_at - slots.start) // SLOT_SECONDS, 0), slots.count)


def manifest_of(
    customer: Customer,
    revision: FileRevision,
    *,
    restated: bool,
    generator: str,
    change_record: str | None,
) -> Manifest:
    """The manifest published with ``revision`` of the customer's day file."""
    return Manifest(
        customer=customer.id,
        day=date.fromisoformat(revision.day),
        file=revision.file_name,
        revision=revision.revision,
        status=revision.status,
        restated=restated,
        rows=revision.rows,
        slots=revision.slots,
        actual_slots=revision.actual_slots,
        estimated_slots=revision.estimated_slots,
        sha256=revision.sha256,
        layout=str(customer.layout),
        encoding=customer.encoding,
        timezone=customer.timezone,
        created_at=revision.created_at,
        generator=generator,
        changed_slots=revision.changed_slots,
        change_record=change_record,
    )


def settings_of_day(customer: Customer, latest: FileRevision | None) -> Customer:
    """The customer with the file settings its day was first written with: a change of
    settings applies to new files only, so a day's revisions stay alike (and its change
    records compare like with like). A day without a file, or whose revision does not
    say, takes the customer's settings as they are."""
    if latest is None or not latest.made_with:
        return customer
    try:
        made = made_with_from_json(latest.made_with).customer
    except ValueError:
        return customer
    return replace(customer, **{name: getattr(made, name) for name in FILE_SETTINGS})


def cut_of_day(customer: Customer, latest: FileRevision | None) -> str:
    """How the day is cut into slots: as its file was first written (every revision
    keeps it, so that no half hour falls between a day's revisions or between days
    already published, and change records compare the same half hours); a revision that
    does not say was cut local. A day without a file is cut as its layout cuts new days."""
    if latest is None:
        return new_day_cut(customer)
    try:
        return made_with_from_json(latest.made_with).cut if latest.made_with else LOCAL_CUT
    except ValueError:
        return LOCAL_CUT
