"""Which revision a build of a day makes, and when a day is final: decided without a store."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from kenshin.domain.model import FileRevision
from kenshin.domain.revisions import (
    FINAL,
    PROVISIONAL,
    NewRevision,
    Unchanged,
    next_revision,
    reported_slots,
    restated,
    status_at,
)
from kenshin.domain.slots import day_slots, zone

SLOTS = day_slots(date(2026, 11, 26), zone("Asia/Tokyo"))
LATEST = FileRevision(
    "C-1", "2026-11-26", 2, PROVISIONAL, "C-1_20261126.csv", "0" * 64, "key-a", 3, 48, 40, 0
)


def test_a_day_is_provisional_until_its_grace_has_passed() -> None:
    end = SLOTS.end
    assert status_at(end + 6 * 3600 - 1, end, grace_hours=6) == PROVISIONAL
    assert status_at(end + 6 * 3600, end, grace_hours=6) == FINAL
    assert status_at(end, end, grace_hours=0) == FINAL


def test_the_first_build_of_a_day_is_revision_one() -> None:
    assert next_revision(None, "key-a", "f.csv", PROVISIONAL) == NewRevision(1, PROVISIONAL)
    assert next_revision(None, "key-a", "f.csv", FINAL) == NewRevision(1, FINAL)


def test_the_same_content_makes_no_new_revision() -> None:
    decision = next_revision(LATEST, "key-a", LATEST.file_name, PROVISIONAL)
    assert decision == Unchanged(LATEST, finalised=False)


def test_the_same_content_once_the_day_is_final_finalises_the_revision() -> None:
    decision = next_revision(LATEST, "key-a", LATEST.file_name, FINAL)
    assert decision == Unchanged(replace(LATEST, status=FINAL), finalised=True)


def test_new_content_or_a_new_name_is_the_next_revision() -> None:
    assert next_revision(LATEST, "key-b", LATEST.file_name, PROVISIONAL) == NewRevision(
        3, PROVISIONAL
    )
    assert next_revision(LATEST, "key-a", "renamed.csv", FINAL) == NewRevision(3, FINAL)


def test_a_final_day_that_changes_is_restated_final() -> None:
    final = replace(LATEST, status=FINAL)
    assert next_revision(final, "key-b", final.file_name, PROVISIONAL) == NewRevision(3, FINAL)
    assert next_revision(final, "key-a", final.file_name, PROVISIONAL) == Unchanged(final)


def test_a_revision_restates_only_an_earlier_final_one() -> None:
    first = replace(LATEST, revision=1)
    later = replace(LATEST, revision=3, status=FINAL)
    assert not restated(later, [first, LATEST])
    assert restated(later, [replace(first, status=FINAL), LATEST])
    assert not restated(first, [replace(first, status=FINAL)])


def test_reported_slots_are_those_begun_when_the_revision_was_made() -> None:
    assert reported_slots(replace(LATEST, created_at=SLOTS.start - 60), SLOTS) == 0
    assert reported_slots(replace(LATEST, created_at=SLOTS.start + 3 * 1800 + 5), SLOTS) == 3
    assert reported_slots(replace(LATEST, created_at=SLOTS.end + 3600), SLOTS) == SLOTS.count
