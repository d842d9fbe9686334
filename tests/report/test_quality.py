"""The report's counting, on hand-made days: no store, no VEE run."""

from __future__ import annotations

from datetime import date

import numpy as np

from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import DeadLetter, Direction, Meter, MeterSpec, SecurityEvent
from kenshin.domain.report_quality import (
    day_events,
    gaps_only,
    group_dead_letters,
    heard_later,
    last_readings,
    meter_qualities,
    silent_units,
)
from kenshin.domain.slots import SLOT_SECONDS, day_slots, zone
from kenshin.domain.vee import Rule, VeeDay

SPEC = MeterSpec(unit_mwh=100_000, coefficient=1, digits=6)
M1, M2 = Meter("M-1", "D-1", SPEC), Meter("M-2", "D-2", SPEC)
SLOTS = day_slots(date(2026, 11, 26), zone("Asia/Tokyo"))


def day_of(flags: list[str], rules: list[list[int]], meters: tuple[str, ...]) -> VeeDay:
    shape = (len(flags), len(flags[0]))
    return VeeDay(
        meters,
        tuple(Direction.FWD for _ in meters),
        np.zeros(shape, np.int64),
        np.array([[ord(c) for c in row] for row in flags], np.uint8),
        np.zeros(shape, np.uint8),
        np.array(rules, np.uint16),
    )


def test_a_meter_with_a_gap_counts_its_missing_slots_and_where_they_start() -> None:
    day = day_of(["AANN", "AAAA"], [[0, 0, Rule.MISSING, Rule.MISSING], [0] * 4], ("M-1", "M-2"))
    found = meter_qualities([M1, M2], day, day.flags, due=4, last=[SLOTS.start, None])
    assert len(found) == 1
    quality = found[0]
    assert (quality.meter, quality.missing, quality.first_missing) == ("M-1", 2, 2)
    assert quality.missing_from == 2  # the gap lasts to the end of the day
    assert quality.kinds == {"missing": 2}
    assert quality.last_reading == SLOTS.start


def test_slots_not_due_or_out_of_service_are_no_gap() -> None:
    not_due = day_of(["ANNN"], [[0, 0, 0, 0]], ("M-1",))
    assert meter_qualities([M1], not_due, not_due.flags, due=1, last=[None]) == []
    day = day_of(["ANNN"], [[0, Rule.MISSING, Rule.MISSING, Rule.MISSING]], ("M-1",))
    service = np.array([[True, False, False, False]])
    assert meter_qualities([M1], day, day.flags, due=4, last=[None], service=service) == []


def test_a_slot_counts_once_per_meter_and_under_its_first_kind() -> None:
    both = int(Rule.NEGATIVE | Rule.SPIKE)
    day = day_of(["AQ", "AQ"], [[0, both], [0, Rule.SPIKE]], ("M-1", "M-1"))
    [quality] = meter_qualities([M1], day, day.flags, due=2, last=[None])
    assert quality.questionable == 1
    assert quality.rules == {"negative": 1, "spike": 1}
    assert quality.kinds == {"negative": 1}


def test_estimated_slots_count_as_the_file_shows_them() -> None:
    day = day_of(["AE"], [[0, Rule.MISSING]], ("M-1",))
    [quality] = meter_qualities([M1], day, day.flags, due=2, last=[None])
    assert (quality.missing, quality.estimated, quality.missing_from) == (1, 1, 1)


def test_last_readings_are_the_latest_boundary_with_a_register() -> None:
    fwd = np.array([[5, 6, NO_REGISTER], [NO_REGISTER] * 3], np.uint32)
    rev = np.full((2, 3), NO_REGISTER, np.uint32)
    assert last_readings(fwd, rev, SLOTS) == [SLOTS.start + SLOT_SECONDS, None]


def test_a_unit_is_silent_when_not_heard_for_silent_hours() -> None:
    end = SLOTS.end
    heard = heard_later(
        {"D-1": None, "D-2": None, "D-3": None}, [M1, M2], [end - 3600, end - 7 * 3600]
    )
    assert heard == {"D-1": end - 3600, "D-2": end - 7 * 3600, "D-3": None}
    assert silent_units(heard, end, now=end + 86_400, silent_hours=6) == {
        "D-2": end - 7 * 3600,
        "D-3": None,
    }
    # Made during the day, silence counts back from now, not from the day's end.
    assert "D-1" in silent_units(heard, end, now=end + 86_400, silent_hours=1)
    assert "D-1" not in silent_units(heard, end, now=end - 3000, silent_hours=1)


def test_dead_letters_group_by_sender_most_first() -> None:
    letters = [
        DeadLetter("s", "bad", b"", 10, "D-1"),
        DeadLetter("s", "worse", b"", 20, "D-1"),
        DeadLetter("s", "who", b"", 15, "D-9"),
    ]
    groups = group_dead_letters(letters, {"D-1"})
    assert [(g.device, g.count, g.reason, g.registered) for g in groups] == [
        ("D-1", 2, "worse", True),
        ("D-9", 1, "who", False),
    ]


def test_the_day_keeps_its_own_events_in_order() -> None:
    events = [SecurityEvent("k", t, "10.0.0.1") for t in (30, 5, 99, 10)]
    kept = day_events(events, 5, 99)
    assert kept is not None
    assert [e.at for e in kept] == [5, 10, 30]
    assert day_events(None, 0, 1) is None


def test_without_vee_only_the_gaps_of_slots_due_are_found() -> None:
    fwd = np.array([[5, 6, NO_REGISTER, NO_REGISTER, NO_REGISTER]], np.uint32)
    rev = np.full((1, 5), NO_REGISTER, np.uint32)
    day = gaps_only([M1], (fwd, rev), 10_000, due=3)
    assert [int(b) for b in day.rules[0]] == [0, Rule.MISSING, Rule.MISSING, 0]
