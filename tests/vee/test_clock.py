"""A unit's clock, tracked message by message: its offset, its drift spells, last seen."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from kenshin.domain.vee import (
    CLOCK_WINDOW_S,
    DriftSpell,
    UnitClock,
    VeeSettings,
    drifting_slots,
    observe,
)

DEFAULTS = VeeSettings()
T0 = 1_790_780_400  # a window's start
W = CLOCK_WINDOW_S


def track(
    messages: Sequence[tuple[int, int | None]], settings: VeeSettings = DEFAULTS
) -> tuple[UnitClock, list[DriftSpell]]:
    """The clock after (received, sent) messages of unit U-1, and every spell change."""
    clock: UnitClock | None = None
    changes = []
    for received, sent in messages:
        clock, spell = observe(clock, "U-1", received, sent, settings)
        if spell is not None:
            changes.append(spell)
    assert clock is not None
    return clock, changes


def half_hourly(start: int, hours: int, lag: int, delay: int = 3) -> list[tuple[int, int]]:
    """Messages sent every half hour by a clock ``lag`` s behind (negative: ahead), each
    received ``delay`` s after it left."""
    return [(t + lag + delay, t) for t in range(start, start + hours * 3600, 1800)]


def test_a_right_clock_gives_its_network_delay_and_no_spell() -> None:
    clock, changes = track(half_hourly(T0, 12, 0, delay=7))
    assert (clock.offset_s, clock.drifting, changes) == (7, False, [])
    assert clock.last_seen == T0 + 11 * 3600 + 1800 + 7
    assert (clock.window, clock.window_count) == (T0 + 3 * W, 6)


def test_the_smallest_offset_of_a_window_is_the_clock_not_the_delays() -> None:
    # A clock 100 s ahead; most messages delayed, some by long (held back, resent).
    delays = [40, 5, 2400, 25, 900, 12]
    messages = [(T0 + 1800 * k + d - 100, T0 + 1800 * k) for k, d in enumerate(delays)]
    clock, changes = track([*messages, (T0 + W + 1, T0 + W)])
    assert (clock.offset_s, changes) == (5 - 100, [])  # within 2 minutes: no spell


def test_a_clock_behind_beyond_the_limit_opens_a_spell_at_its_window() -> None:
    messages = half_hourly(T0, 3, 0) + half_hourly(T0 + W, 3, 200) + half_hourly(T0 + 2 * W, 1, 200)
    clock, changes = track(messages)
    assert changes == [DriftSpell("U-1", T0 + W, None, 203)]
    assert clock.spell == changes[0]
    assert clock.drifting


def test_a_clock_ahead_counts_as_much_as_one_behind() -> None:
    clock, changes = track([*half_hourly(T0, 3, -600), (T0 + W + 1, T0 + W + 601)])
    assert changes == [DriftSpell("U-1", T0, None, -597)]
    assert clock.offset_s == -597


def test_a_spell_keeps_its_worst_offset_and_closes_when_the_clock_is_right_again() -> None:
    messages = (
        half_hourly(T0, 3, 300)
        + half_hourly(T0 + W, 3, 900)
        + half_hourly(T0 + 2 * W, 3, 500)
        + half_hourly(T0 + 3 * W, 3, 0)
        + half_hourly(T0 + 4 * W, 1, 0)
    )
    clock, changes = track(messages)
    assert changes == [
        DriftSpell("U-1", T0, None, 303),
        DriftSpell("U-1", T0, None, 903),
        DriftSpell("U-1", T0, T0 + 3 * W, 903),
    ]
    assert (clock.spell, clock.offset_s) == (None, 3)


def test_a_window_with_too_few_messages_is_not_judged() -> None:
    # Four messages (two hours) off by 10 minutes, then silence: delay cannot be told
    # from a clock on so few; the spell of the window before goes on.
    sparse = [(T0 + 1800 * k + 600, T0 + 1800 * k) for k in range(4)]
    clock, changes = track([*sparse, (T0 + 2 * W, T0 + 2 * W)])
    assert (clock.offset_s, changes) == (None, [])
    fewer = VeeSettings(drift_min_samples=4)
    clock, changes = track([*sparse, (T0 + 2 * W, T0 + 2 * W)], fewer)
    assert changes == [DriftSpell("U-1", T0, None, 600)]


def test_a_message_without_a_sent_time_is_only_seen() -> None:
    clock, changes = track([(T0 + 5, T0), (T0 + 60, None), (T0 + 30, None)])
    assert (clock.last_seen, clock.window_count, clock.window_min, changes) == (T0 + 60, 1, 5, [])


def test_a_late_message_of_an_earlier_window_counts_in_the_current_one() -> None:
    clock, _ = track([(T0 + W + 10, T0 + W), (T0 + 50, T0 + 48)])
    assert (clock.window, clock.window_count, clock.window_min) == (T0 + W, 2, 2)
    assert clock.last_seen == T0 + W + 10


def test_drifting_slots_are_those_overlapping_a_spell_of_the_rows_unit() -> None:
    spells = [
        DriftSpell("U-1", T0 + 3600, T0 + 3 * 3600, 200),
        DriftSpell("U-2", T0 + 900, None, -300),
    ]
    mask = drifting_slots(["U-1", "U-2", "U-1", "U-3"], spells, T0, 8)
    text = ["".join("x" if m else "." for m in row) for row in mask.tolist()]
    assert text == ["..xxxx..", "xxxxxxxx", "..xxxx..", "........"]
    assert drifting_slots([], spells, T0, 8).shape == (0, 8)
    assert not drifting_slots(["U-1"], spells, T0 + 3 * 3600, 4).any()
    assert mask.dtype == np.bool_


@pytest.mark.parametrize(
    ("start", "end", "overlaps"),
    [
        (T0 - 10, T0, False),
        (T0 - 10, T0 + 1, True),
        (T0 + 99, T0 + 200, True),
        (T0 + 100, T0 + 200, False),
    ],
)
def test_a_closed_spell_covers_its_start_but_not_its_end(
    start: int, end: int, overlaps: bool
) -> None:
    assert DriftSpell("U-1", T0, T0 + 100, 150).overlaps(start, end) is overlaps
    assert DriftSpell("U-1", T0, None, 150).overlaps(start, end) is (end > T0)
