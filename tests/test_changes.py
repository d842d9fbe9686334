"""Change records: the slots compare_files lists are exactly those a plain, slow reading
of both files finds different, whatever rows change, appear or go, in every layout."""

from __future__ import annotations

import csv
import io
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.change_cells import changed_lines
from kenshin.domain.changes import LISTED_CHANGES, compare_files, slot_starts
from kenshin.domain.csvfiles import render_day
from kenshin.domain.daytable import DayTable
from kenshin.domain.model import Customer, Direction, FlagColumns, Labels, Layout, SlotLabels
from kenshin.domain.slots import day_slots, zone

TZ = zone("Asia/Tokyo")
SLOTS = day_slots(date(2026, 11, 26), TZ)
STARTS = slot_starts(SLOTS, TZ)
METERS = ["M-1", "M,2", "=M3", 'M"4', "M-5"]  # quoted, formula-like and plain cells


def table(rows: list[tuple[str, list[int], str]]) -> DayTable:
    rows = sorted(rows)
    values = np.array([v for _, v, _ in rows], np.int64).reshape(len(rows), 48)
    flags = np.array([[ord(f) for f in fl] for _, _, fl in rows], np.uint8).reshape(len(rows), 48)
    values = np.where(flags == ord("N"), 0, values)
    return DayTable(tuple(m for m, _, _ in rows), tuple(Direction.FWD for _ in rows), values, flags)


# Every setting that shapes a wide file: its changes are read back in each.
CUSTOMERS = [
    Customer("C1", "First"),
    Customer("C1", "First", labels=Labels.JA, slot_labels=SlotLabels.END),
    Customer("C1", "First", flags=FlagColumns.PER_SLOT),
    Customer(
        "C1",
        "First",
        encoding="cp932",
        labels=Labels.JA,
        slot_labels=SlotLabels.NUMBER,
        flags=FlagColumns.PER_SLOT,
    ),
]
DIRECTIONS = {"買電": "fwd", "売電": "rev"}


def wide_cells(text: str, customer: Customer) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """The oracle: every row read whole with the csv module."""
    found = {}
    for row in list(csv.reader(io.StringIO(text)))[1:]:
        if customer.flags == FlagColumns.PER_SLOT:  # kWh, flag, kWh, flag ..., total
            cells = list(zip(row[3:99:2], row[4:100:2], strict=True))
            assert len(row) == 100
        else:  # the kWh cells, total, the flags
            cells = list(zip(row[3:51], row[-1], strict=True))
        found[(row[0], DIRECTIONS.get(row[2], row[2]))] = cells
    return found


rows = st.lists(
    st.tuples(
        st.sampled_from(METERS),
        st.lists(st.integers(0, 3_000), min_size=48, max_size=48),
        st.text("AEQN", min_size=48, max_size=48),
    ),
    max_size=4,
    unique_by=lambda r: r[0],
)


@pytest.mark.parametrize("customer", CUSTOMERS)
@settings(max_examples=50)  # for each of the four layouts
@given(rows, rows, st.integers(0, 48))
def test_the_listed_slots_are_those_that_differ_before_the_reported_end(
    customer: Customer,
    before: list[tuple[str, list[int], str]],
    after: list[tuple[str, list[int], str]],
    reported: int,
) -> None:
    check_against_plain_reading(customer, before, after, reported)


@pytest.mark.parametrize("customer", CUSTOMERS)
@settings(max_examples=30)  # for each of the four layouts
@given(rows, st.data(), st.integers(0, 48))
def test_flags_restated_on_the_same_values_are_listed_as_a_plain_reading_finds(
    customer: Customer,
    before: list[tuple[str, list[int], str]],
    data: st.DataObject,
    reported: int,
) -> None:
    flags = st.text("AEQN", min_size=48, max_size=48)
    after = [(meter, values, data.draw(flags)) for meter, values, _ in before]
    check_against_plain_reading(customer, before, after, reported)


def check_against_plain_reading(
    customer: Customer,
    before: list[tuple[str, list[int], str]],
    after: list[tuple[str, list[int], str]],
    reported: int,
) -> None:
    """compare_files lists and counts exactly the slots the oracle finds different."""
    old = render_day(customer, SLOTS, table(before), created_at=0).content.decode(customer.encoding)
    new = render_day(customer, SLOTS, table(after), created_at=0).content.decode(customer.encoding)
    record = compare_files(
        Layout.WIDE, old, new, starts=STARTS, reported=reported, flags=customer.flags
    )
    a, b = wide_cells(old, customer), wide_cells(new, customer)
    absent = [("", "")] * 48
    expected = [
        (key, slot, a.get(key, absent)[slot], b.get(key, absent)[slot])
        for key in sorted(a.keys() | b.keys())
        for slot in range(reported)
        if a.get(key, absent)[slot] != b.get(key, absent)[slot]
    ]
    got = [((c.meter, c.direction), c.slot, c.before, c.after) for c in record.changes]
    assert got == expected
    assert record.count == len(expected)


def test_a_restatement_of_everything_is_counted_whole_and_listed_in_part() -> None:
    n = LISTED_CHANGES // 48 + 10
    customer = Customer("C1", "First")
    meters = [f"M-{i:06d}" for i in range(n)]
    first = [(m, [1_000] * 48, "A" * 48) for m in meters]
    second = [(m, [2_000] * 48, "E" * 48) for m in meters]
    old = render_day(customer, SLOTS, table(first), created_at=0).content.decode()
    new = render_day(customer, SLOTS, table(second), created_at=0).content.decode()
    record = compare_files(Layout.WIDE, old, new, starts=STARTS, reported=48)
    assert record.count == 48 * n
    assert len(record.changes) == LISTED_CHANGES
    assert record.changes[0].before == ("0.001", "A")
    assert record.changes[0].after == ("0.002", "E")


def test_a_slot_whose_flag_alone_changes_is_listed() -> None:
    customer = Customer("C1", "First")
    values = [1_200] * 48
    old = render_day(customer, SLOTS, table([("M-1", values, "A" * 10 + "E" * 38)]), created_at=0)
    new = render_day(customer, SLOTS, table([("M-1", values, "A" * 11 + "E" * 37)]), created_at=0)
    record = compare_files(
        Layout.WIDE, old.content.decode(), new.content.decode(), starts=STARTS, reported=20
    )
    assert [(c.slot, c.before, c.after, c.reason) for c in record.changes] == [
        (10, ("0.0012", "E"), ("0.0012", "A"), "late reading replaced the estimate")
    ]


def test_a_long_file_in_japanese_records_its_changes_as_fwd_and_rev() -> None:
    customer = Customer("C1", "First", layout=Layout.LONG, labels=Labels.JA)
    old = render_day(
        customer, SLOTS, table([("M-1", [1_000] * 48, "A" * 5 + "N" * 43)]), created_at=0
    )
    new = render_day(customer, SLOTS, table([("M-1", [1_000] * 48, "A" * 48)]), created_at=0)
    record = compare_files(
        Layout.LONG, old.content.decode(), new.content.decode(), starts=STARTS, reported=7
    )
    assert [(c.meter, c.direction, c.slot, c.before, c.after) for c in record.changes] == [
        ("M-1", "fwd", 5, ("", "N"), ("0.001", "A")),
        ("M-1", "fwd", 6, ("", "N"), ("0.001", "A")),
    ]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("h\r\nx\r\ny\r\n", "h\r\ny\r\nx\r\n", ([], [])),  # moved: both texts have both
        ("h\r\nx\r\nx\r\n", "h\r\nx\r\nz\r\n", ([], ["z"])),  # the other x is still there
        ("h\r\nx\r\ny\r\n", "h\r\nz\r\ny\r\n", (["x"], ["z"])),
        ("h\r\nx\r\n", "h\r\nx\r\nz\r\n", ([], ["z"])),  # lines of another count
    ],
)
def test_changed_lines_are_those_the_other_text_has_nowhere(
    before: str, after: str, expected: tuple[list[str], list[str]]
) -> None:
    assert changed_lines(before, after) == expected
