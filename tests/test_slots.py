"""The slot calendar of a local day, with and without DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kenshin.domain.slots import SLOT_SECONDS, day_slots, local_day, slot_labels, zone

TOKYO = zone("Asia/Tokyo")
BERLIN = zone("Europe/Berlin")


def test_tokyo_day_has_48_slots_from_local_midnight() -> None:
    slots = day_slots(date(2026, 11, 26), TOKYO)
    assert slots.count == 48
    assert datetime.fromtimestamp(slots.start, UTC) == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    labels = slot_labels(slots, TOKYO)
    assert labels[0] == "00:00"
    assert labels[-1] == "23:30"


def test_spring_forward_day_has_46_slots() -> None:
    slots = day_slots(date(2026, 3, 29), BERLIN)
    assert slots.count == 46
    labels = slot_labels(slots, BERLIN)
    assert labels[3:5] == ["01:30", "03:00"]


def test_fall_back_day_has_50_slots_with_distinct_labels() -> None:
    slots = day_slots(date(2026, 10, 25), BERLIN)
    assert slots.count == 50
    labels = slot_labels(slots, BERLIN)
    assert len(set(labels)) == 50
    assert "02:00+02:00" in labels
    assert "02:00+01:00" in labels


def test_midnight_skipped_by_dst_starts_the_day_at_its_first_instant() -> None:
    # Santiago springs forward at 00:00 -> 01:00 on 2026-09-06.
    santiago = zone("America/Santiago")
    slots = day_slots(date(2026, 9, 6), santiago)
    assert slots.count == 46
    assert local_day(slots.start, santiago) == date(2026, 9, 6)
    assert local_day(slots.start - 1, santiago) == date(2026, 9, 5)


@given(
    st.dates(date(2000, 1, 1), date(2037, 12, 31)),
    st.sampled_from(["Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
)
def test_days_tile_time_without_gaps(day: date, name: str) -> None:
    tz = zone(name)
    today, tomorrow = day_slots(day, tz), day_slots(day + timedelta(days=1), tz)
    assert today.end == tomorrow.start
    assert 46 <= today.count <= 50
    assert local_day(today.start, tz) == day
    assert local_day(today.end - 1, tz) == day
    assert today.boundary_index(today.start + SLOT_SECONDS) == 1
    assert today.boundary_index(today.end) == today.count
    assert today.boundary_index(today.start + 1) is None
