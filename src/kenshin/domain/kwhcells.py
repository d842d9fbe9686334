"""kWh cell text for whole tables of slot values at once, with numpy.

Byte-identical to ``KwhFormatter``: mWh printed as exact kWh with at least the
customer's decimals and more only when the value needs them. Each cell is built
from 4-byte words looked up by groups of three digits: the separator and the
leading digits of the whole kWh, further whole digits, "." and the first three
decimals, the last three decimals. Bytes a cell does not use hold a pad byte,
which one bytes.translate deletes from a whole block of rows.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from kenshin.domain.energy import MWH_PER_KWH

_PAD = "\0"  # never part of the text, which is only digits, "." and ","
_GROUP = 1000  # three digits per looked-up word
# Cells formatted at a time: int64 temporaries of under 128 KiB stay in cache, and
# larger ones measured slower (fresh pages from the allocator on every operation).
_BLOCK_CELLS = 1 << 14
_Words = npt.NDArray[np.uint32]


def kwh_rows(
    values: npt.NDArray[np.integer], blank: npt.NDArray[np.bool_], decimals: int
) -> list[str]:
    """Each row's cells as kWh text joined by ",", a blank cell as "".

    ``values`` are mWh (>= 0 where not blank); a cell reads exactly as
    ``KwhFormatter(decimals)`` prints it, ``decimals`` being 0 to 6.
    """
    top = _checked_top(values, blank, decimals)
    rows, cols = values.shape
    if rows == 0 or cols == 0:
        return [""] * rows
    group_count = (len(str(top // MWH_PER_KWH)) + 2) // 3
    # Block by block, so that every temporary, the words included, stays in cache.
    step = max(1, _BLOCK_CELLS // cols)
    words = np.empty((step, cols, group_count + 2), dtype=np.uint32)
    # Every cell starts with its separator: "\n" starts a row, so a block's
    # text splits into its rows with no offsets to compute.
    starts = words.view(np.uint8)[:, 0, 0]
    lines: list[str] = []
    for start in range(0, rows, step):
        block = slice(start, start + step)
        cells = words[: len(blank[block])]
        _fill(cells.reshape(-1, group_count + 2), values[block], blank[block], decimals)
        starts[:] = ord("\n")
        text = cells.tobytes().translate(None, _PAD.encode()).decode("ascii")
        lines += text.split("\n")[1:]
    return lines


def _checked_top(
    values: npt.NDArray[np.integer], blank: npt.NDArray[np.bool_], decimals: int
) -> int:
    """The largest value not blank (0 if none); ValueError if the arguments are invalid."""
    if not 0 <= decimals <= 6:
        raise ValueError(f"decimals must be between 0 and 6, not {decimals}")
    if values.ndim != 2 or blank.shape != values.shape:
        raise ValueError(
            "values and blank must be 2-D arrays of the same shape, "
            f"not {values.shape} and {blank.shape}"
        )
    if values.dtype.kind not in "iu" or not np.can_cast(values.dtype, np.int64):
        raise ValueError(f"values must be integers that fit in int64, not {values.dtype}")
    if blank.dtype != np.bool_:
        raise ValueError(f"blank must be a bool array, not {blank.dtype}")
    present = ~blank
    if int(np.min(values, where=present, initial=0)) < 0:
        row, col = np.argwhere((values < 0) & present)[0]
        raise ValueError(
            f"values must not be negative: {int(values[row, col])} at row {row}, column {col}"
        )
    return int(np.max(values, where=present, initial=0))


def _fill(
    words: _Words,
    values: npt.NDArray[np.integer],
    blank: npt.NDArray[np.bool_],
    decimals: int,
) -> None:
    """Write the words of a block of cells, one row of ``words`` per cell."""
    whole, frac = _split(np.where(blank, 0, values).astype(np.int64, copy=False).ravel())
    group_count = words.shape[1] - 2
    _fill_whole(words, whole, group_count)
    _fill_fraction(words[:, group_count:], frac, decimals)
    words[blank.ravel()] = _blank_cell(group_count + 2)


def _split(mwh: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """Whole kWh and the remaining mWh of each value."""
    whole = mwh // MWH_PER_KWH
    return whole, (mwh - whole * MWH_PER_KWH).astype(np.uint32)


def _fill_whole(words: _Words, whole: npt.NDArray[np.int64], group_count: int) -> None:
    """Write the separator and whole kWh digits into the first ``group_count`` words."""
    top, middle, last = _whole_tables(group_count > 1)
    if group_count == 1:
        # The usual case, under 1000 kWh a slot: the value is the table index.
        words[:, 0] = top[whole]
        return
    for place in range(group_count):
        power = _GROUP ** (group_count - 1 - place)
        above = whole // power
        group = above - above // _GROUP * _GROUP
        if place == 0:
            words[:, 0] = top[group]
            continue
        # Leading zeros of a group are only shown if a group above is non-zero.
        index = group + _GROUP * (above >= _GROUP)
        words[:, place] = (last if place == group_count - 1 else middle)[index]


def _fill_fraction(words: _Words, frac: npt.NDArray[np.uint32], decimals: int) -> None:
    """Write "." and the decimals into the last two words of each cell."""
    first_table, last_table = _fraction_tables(decimals)
    first = frac // _GROUP
    last = (frac - first * _GROUP).astype(np.intp)
    # All three of the first decimals show when any of the last three is non-zero.
    words[:, 0] = first_table[first.astype(np.intp) + _GROUP * (last != 0)]
    words[:, 1] = last_table[last]


@cache
def _blank_cell(word_count: int) -> _Words:
    """The words of a cell with no value: its separator alone."""
    return _words([",", *[""] * (word_count - 1)])


@cache
def _whole_tables(grouped: bool) -> tuple[_Words, _Words, _Words]:
    """Word tables for whole kWh: top group (with separator), middle and last group.

    The top table is indexed by the group's value; the others by value, plus
    1000 when a group above is non-zero.
    """
    top = [f",{str(g) if g or not grouped else ''}".ljust(4, _PAD) for g in range(_GROUP)]
    under = [f"{g:03d}".rjust(4, _PAD) for g in range(_GROUP)]
    middle = [(str(g) if g else "").rjust(4, _PAD) for g in range(_GROUP)] + under
    last = [str(g).rjust(4, _PAD) for g in range(_GROUP)] + under
    return _words(top), _words(middle), _words(last)


@cache
def _fraction_tables(decimals: int) -> tuple[_Words, _Words]:
    """Word tables for the fraction: "." and decimals 1-3, and decimals 4-6.

    The first is indexed by the first three decimals, plus 1000 when any of the
    last three is non-zero; the second by the last three decimals.
    """
    first = [_significant(g, min(decimals, 3)) for g in range(_GROUP)]
    first += [f"{g:03d}" for g in range(_GROUP)]
    last = [_significant(g, max(decimals - 3, 0)) for g in range(_GROUP)]
    return _words([f".{d}" if d else "" for d in first]), _words(last)


def _significant(group: int, least: int) -> str:
    """Three decimals without trailing zeros, but at least ``least`` of them."""
    return f"{group:03d}".rstrip("0").ljust(least, "0")


def _words(texts: list[str]) -> _Words:
    """Texts of up to four ASCII characters as 4-byte words, padded at the end."""
    data = b"".join(text.ljust(4, _PAD).encode("ascii") for text in texts)
    return np.frombuffer(data, dtype=np.uint32).copy()
