"""Vectorised kWh cells: the same text as KwhFormatter, row by row."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kenshin.domain.energy import KwhFormatter
from kenshin.domain.kwhcells import kwh_rows

BLANK = None  # a cell with no value, in the examples below
INT64_MAX = int(np.iinfo(np.int64).max)


def reference(
    values: npt.NDArray[np.int64], blank: npt.NDArray[np.bool_], decimals: int
) -> list[str]:
    fmt = KwhFormatter(decimals)
    return [
        ",".join("" if b else fmt(int(v)) for v, b in zip(row, blank_row, strict=True))
        for row, blank_row in zip(values.tolist(), blank.tolist(), strict=True)
    ]


def table(rows: list[list[int | None]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Values and blanks of literal rows; under a blank lies a value that must not show."""
    blank = np.array([[v is None for v in row] for row in rows], dtype=np.bool_)
    values = np.array([[-7 if v is None else v for v in row] for row in rows], dtype=np.int64)
    return values.reshape(blank.shape), blank


@pytest.mark.parametrize(
    ("decimals", "rows", "lines"),
    [
        (3, [[1_234_000, BLANK, 0, 1_000_000, 1]], ["1.234,,0.000,1.000,0.000001"]),
        (3, [[1234, 1230, 1_230_000]], ["0.001234,0.00123,1.230"]),
        (0, [[2_000_000, 2_500_000, 0, 100]], ["2,2.5,0,0.0001"]),
        (1, [[300_000, 1_230_000, 999_999]], ["0.3,1.23,0.999999"]),
        (6, [[1, 10**15 - 1]], ["0.000001,999999999.999999"]),
        (2, [[1_000_000_000, 1_000_000_001_000]], ["1000.00,1000000.001"]),
        (0, [[1_000_001_000_000, 1_000_000_000_000_000]], ["1000001,1000000000"]),
        (4, [[INT64_MAX, 0]], ["9223372036854.775807,0.0000"]),
        (3, [[0, 1], [BLANK, BLANK], [5_000, BLANK]], ["0.000,0.000001", ",", "0.005,"]),
        (5, [[BLANK]], [""]),
    ],
)
def test_rows_read_exactly(decimals: int, rows: list[list[int | None]], lines: list[str]) -> None:
    values, blank = table(rows)
    assert kwh_rows(values, blank, decimals) == lines


def test_empty_tables() -> None:
    assert kwh_rows(np.zeros((0, 48), np.int64), np.zeros((0, 48), np.bool_), 3) == []
    assert kwh_rows(np.zeros((3, 0), np.int64), np.zeros((3, 0), np.bool_), 3) == ["", "", ""]


@pytest.mark.parametrize("shape", [(1_001, 48), (3, 20_000)])
def test_large_tables_match_the_formatter_on_every_row(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(20261126)
    values = rng.integers(0, 2_001, size=shape, dtype=np.int64) * 1_000
    values += np.where(rng.random(shape) < 0.1, rng.integers(0, 1_000, size=shape), 0)
    blank = rng.random(shape) < 0.02
    assert kwh_rows(values, blank, 3) == reference(values, blank, 3)


_kwh = st.integers(0, 10**9 - 1).map(lambda k: k * 10**6)
_VALUES = st.one_of(
    st.sampled_from([0, 1, 999_999, 1_000_000, 10**15 - 1]),
    _kwh,
    # 1 to 6 significant decimals after some whole kWh
    st.tuples(_kwh, st.integers(1, 6), st.integers(1, 9)).map(
        lambda t: t[0] + t[2] * 10 ** (6 - t[1])
    ),
    st.integers(0, 10**15 - 1),
    st.integers(0, 3_000_000),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    shape = draw(st.tuples(st.integers(0, 6), st.integers(0, 9)))
    values = draw(hnp.arrays(np.int64, shape, elements=_VALUES))
    blank = draw(hnp.arrays(np.bool_, shape))
    # Whatever lies under a blank cell, negative or huge, must not matter.
    junk = draw(hnp.arrays(np.int64, shape))
    return np.where(blank, junk, values), blank


@settings(max_examples=100)
@given(tables(), st.integers(0, 6))
def test_every_cell_reads_as_the_formatter_prints_it(
    drawn: tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]], decimals: int
) -> None:
    values, blank = drawn
    assert kwh_rows(values, blank, decimals) == reference(values, blank, decimals)


@pytest.mark.parametrize("decimals", [-1, 7])
def test_decimals_outside_0_to_6_are_refused(decimals: int) -> None:
    with pytest.raises(ValueError, match=f"decimals must be between 0 and 6, not {decimals}"):
        kwh_rows(np.zeros((1, 1), np.int64), np.zeros((1, 1), np.bool_), decimals)


@pytest.mark.parametrize(
    ("values", "blank"),
    [
        (np.zeros((2, 3), np.int64), np.zeros((3, 2), np.bool_)),
        (np.zeros((2, 3), np.int64), np.zeros((2, 4), np.bool_)),
        (np.zeros(3, np.int64), np.zeros(3, np.bool_)),
    ],
)
def test_shapes_that_differ_or_are_not_2d_are_refused(
    values: npt.NDArray[np.int64], blank: npt.NDArray[np.bool_]
) -> None:
    with pytest.raises(ValueError, match="same shape"):
        kwh_rows(values, blank, 3)


def test_a_negative_value_is_refused_with_its_place() -> None:
    values, blank = table([[1, 2], [3, -5]])
    with pytest.raises(ValueError, match="negative: -5 at row 1, column 1"):
        kwh_rows(values, blank, 3)


def test_values_that_are_not_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="integers"):
        kwh_rows(np.zeros((1, 1), np.float64), np.zeros((1, 1), np.bool_), 3)
    with pytest.raises(ValueError, match="integers"):
        kwh_rows(np.zeros((1, 1), np.uint64), np.zeros((1, 1), np.bool_), 3)
    with pytest.raises(ValueError, match="bool"):
        kwh_rows(np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64), 3)
