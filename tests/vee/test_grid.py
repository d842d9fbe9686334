"""A grid or like days of the wrong shape are refused with what was expected."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kenshin.domain.model import Direction, Meter, MeterSpec
from kenshin.domain.vee import LikeDays, VeeSettings, grid_of, like_days_of, validate_day

from .conftest import X, grid


def test_a_mask_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"installed: expected bool of shape \(1, 3\)"):
        grid([0, 1, 2, 3], installed=np.ones((1, 4), np.bool_))
    with pytest.raises(ValueError, match=r"conflicts: expected bool of shape \(1, 4\)"):
        grid([0, 1, 2, 3], conflicts=np.ones((1, 3), np.bool_))


def test_a_column_of_the_wrong_type_is_refused() -> None:
    g = grid([0, 1, 2])
    with pytest.raises(ValueError, match=r"modulus: expected int64 of shape \(1,\)"):
        replace(g, modulus=g.modulus.astype(np.int32))


def test_a_meter_that_could_overflow_int64_is_refused() -> None:
    with pytest.raises(ValueError, match="could overflow int64"):
        grid([0, 1], resolution=10**10, digits=8)


def test_like_days_must_match_the_grid() -> None:
    g = grid([0, 1, 2])
    with pytest.raises(ValueError, match=r"like days: expected shape \(1, weeks, 2\)"):
        validate_day(g, LikeDays.empty(1, 3), VeeSettings())
    with pytest.raises(ValueError, match="expected values and flags of one shape"):
        LikeDays(np.zeros((1, 2, 2), np.int64), np.zeros((1, 3, 2), np.uint8))


def test_due_must_be_within_the_day() -> None:
    with pytest.raises(ValueError, match="due: expected 0 to 2 slots, got 3"):
        validate_day(grid([0, 1, 2]), LikeDays.empty(1, 2), VeeSettings(), due=3)


def test_like_days_come_from_each_weeks_registers_in_the_grids_rows() -> None:
    spec = MeterSpec(1_000, 1, 6)
    meters = [Meter("M-1", "U-1", spec), Meter("M-2", "U-1", spec, reverse=True)]
    today = np.array([[0, 1, 2], [0, 1, 2]], np.uint32)
    g = grid_of(meters, today, np.array([[X] * 3, [0, 0, 0]], np.uint32))
    week1 = (
        np.array([[10, 15, X], [0, 7, 9]], np.uint32),
        np.array([[X] * 3, [5, 6, 8]], np.uint32),
    )
    week2 = (np.array([[0, 1, 3], [0, 0, 0]], np.uint32), np.array([[X] * 3, [X, 1, 2]], np.uint32))
    like = like_days_of(g, meters, [week1, week2])
    assert g.directions == (Direction.FWD, Direction.FWD, Direction.REV)
    assert like.values.tolist() == [
        [[5_000, 0], [1_000, 2_000]],
        [[7_000, 2_000], [0, 0]],
        [[1_000, 2_000], [0, 1_000]],
    ]
    assert like.flags.tobytes() == b"ANAAAAAAAANA"
    with pytest.raises(ValueError, match=r"like day 1: expected registers of shape \(2, 3\)"):
        like_days_of(g, meters, [(today[:, :2], today[:, :2])])
