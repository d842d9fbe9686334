"""Properties over random days: actual slots stay the truth, estimates fill only real gaps
by their stated method and conserve the register difference, clean days raise no flag."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.daytable import day_table
from kenshin.domain.model import Meter, MeterSpec
from kenshin.domain.vee import LikeDays, Method, VeeDay, VeeSettings, grid_of, validate_day

from .conftest import X, grid

SLOTS = 12
LIMIT_MWH = 100_000 * 500  # the default demand (100 kW) for half an hour


@dataclass
class Day:
    """A row's true slot energies (mWh), its registers as read, and its resolution."""

    truth: list[int]
    registers: list[int]
    resolution: int
    digits: int


@st.composite
def days(draw: st.DrawFn) -> Day:
    """A day whose register may wrap once, with boundaries missing at random."""
    resolution = draw(st.sampled_from([1, 100, 1_000, 100_000]))
    digits = draw(st.integers(5, 8))
    steps = draw(st.lists(st.integers(0, min(500, LIMIT_MWH // resolution)), min_size=SLOTS))
    steps = steps[:SLOTS]
    start = draw(st.integers(0, 10**digits - 1))
    read = draw(st.lists(st.booleans() | st.just(True), min_size=SLOTS + 1, max_size=SLOTS + 1))
    raw = np.cumsum([start, *steps]) % 10**digits
    registers = [int(r) if ok else X for r, ok in zip(raw, read, strict=True)]
    return Day([s * resolution for s in steps], registers, resolution, digits)


@st.composite
def like_days(draw: st.DrawFn) -> tuple[list[list[int]], list[list[bool]]]:
    """Three like days with random values, about one slot in ten without one."""
    values = draw(st.lists(st.integers(0, 10**6), min_size=3 * SLOTS, max_size=3 * SLOTS))
    missing = draw(st.lists(st.integers(0, 3 * SLOTS - 1), max_size=4))
    rows = [values[w * SLOTS : (w + 1) * SLOTS] for w in range(3)]
    return rows, [[w * SLOTS + k not in missing for k in range(SLOTS)] for w in range(3)]


def run(day: Day, like: tuple[list[list[int]], list[list[bool]]], max_slots: int) -> VeeDay:
    values, have = like
    history = LikeDays(
        np.array([values], np.int64),
        np.where(np.array([have]), ord("A"), ord("N")).astype(np.uint8),
    )
    g = grid(day.registers, resolution=day.resolution, digits=day.digits)
    return validate_day(g, history, VeeSettings(interpolation_max_slots=max_slots))


def known_pairs(registers: list[int]) -> list[tuple[int, int]]:
    """Consecutive known boundaries."""
    known = [i for i, r in enumerate(registers) if r != X]
    return list(pairwise(known))


@settings(max_examples=100, deadline=None)
@given(days(), like_days(), st.integers(0, 6))
def test_actual_slots_are_the_truth_and_estimates_only_fill_gaps(
    day: Day, like: tuple[list[list[int]], list[list[bool]]], max_slots: int
) -> None:
    out = run(day, like, max_slots)
    flags = out.flags[0].tobytes().decode()
    for slot in range(SLOTS):
        both = day.registers[slot] != X and day.registers[slot + 1] != X
        if both:
            assert flags[slot] in "AQ"
            assert out.values[0, slot] == day.truth[slot]
        else:
            assert flags[slot] in "EN"
        assert (flags[slot] == "E") == (out.methods[0, slot] != Method.NONE)


@settings(max_examples=100, deadline=None)
@given(days(), like_days(), st.integers(0, 6))
def test_estimates_conserve_the_register_difference_and_follow_their_method(
    day: Day, like: tuple[list[list[int]], list[list[bool]]], max_slots: int
) -> None:
    out = run(day, like, max_slots)
    values, have = like
    row = out.values[0].tolist()
    for a, b in known_pairs(day.registers):
        gap_flags = out.flags[0, a:b].tobytes().decode()
        if gap_flags.count("N"):
            assert gap_flags == "N" * (b - a)  # a gap is filled whole or not at all
            # ... and left empty only when it is long and a slot has no like day
            assert b - a > max_slots
            assert any(not any(have[w][k] for w in range(3)) for k in range(a, b))
            continue
        assert sum(row[a:b]) == sum(day.truth[a:b])  # conservation, to the mWh
        if b - a == 1:
            continue
        total, n = sum(day.truth[a:b]), b - a
        methods = set(out.methods[0, a:b].tolist())
        if n <= max_slots:
            assert methods == {Method.LINEAR}
            assert row[a:b] == [total // n + (k < total % n) for k in range(n)]
        else:
            assert methods == {Method.LIKE_DAY_SCALED}
            assert row[a:b] == scaled_reference(total, values, have, a, b)


def scaled_reference(
    total: int, values: list[list[int]], have: list[list[bool]], a: int, b: int
) -> list[int]:
    """The like-day split, one slot at a time in Python integers."""
    weights = []
    for slot in range(a, b):
        got = [values[w][slot] for w in range(3) if have[w][slot]]
        weights.append(sum(got) * 6 // len(got))
    whole = sum(weights)
    if whole == 0:
        return [total // (b - a) + (k < total % (b - a)) for k in range(b - a)]
    cuts = [total * sum(weights[:k]) // whole for k in range(len(weights) + 1)]
    return [hi - lo for lo, hi in pairwise(cuts)]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(50_000, 10**7),
    st.lists(st.integers(0, 1000), min_size=4 * SLOTS, max_size=4 * SLOTS),
    st.integers(0, 10**6),
)
def test_a_clean_day_within_the_thresholds_raises_no_flag(
    low: int, spread: list[int], start: int
) -> None:
    # Every value between low and twice low, today and on each like day.
    values = [low + low * s // 1000 for s in spread]
    history = np.array(values[SLOTS:], np.int64).reshape(1, 3, SLOTS)
    registers = np.cumsum([start, *values[:SLOTS]]).tolist()
    out = validate_day(
        grid(registers, resolution=1, digits=9),
        LikeDays(history, np.full(history.shape, ord("A"), np.uint8)),
        VeeSettings(),
    )
    assert out.flags.tobytes() == b"A" * SLOTS
    assert not out.rules.any()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_the_grid_has_the_rows_of_the_day_table(shape: list[tuple[bool, bool]]) -> None:
    spec = MeterSpec(1_000, 1, 6)
    meters = [Meter(f"M-{i}", "U-1", spec, reverse=known) for i, (known, _) in enumerate(shape)]
    fwd = np.array([[i, i + 5, X] for i in range(len(shape))], np.uint32)
    rev = np.array([[1, 2, 3] if shows else [X] * 3 for _, shows in shape], np.uint32)
    g = grid_of(meters, fwd, rev)
    table = day_table(meters, fwd, rev)
    values, flags = g.slots()
    assert (g.meters, g.directions) == (table.meters, table.directions)
    assert np.array_equal(values, table.values)
    assert np.array_equal(flags, table.flags)
