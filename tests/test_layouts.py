"""Every file layout reads back what it wrote: parse(render(day)) is the day, over random
days of values, flags, meters, settings, encodings and daylight-saving days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kenshin.domain.change_cells import SlotChange
from kenshin.domain.changes import slot_starts
from kenshin.domain.csvcells import KwhCells
from kenshin.domain.csvfiles import file_slots, render_day
from kenshin.domain.daytable import DayTable
from kenshin.domain.layouts import LAYOUTS, parse_day
from kenshin.domain.layouts.base import ParsedDay, mwh_of_cell
from kenshin.domain.model import (
    ENCODINGS,
    Customer,
    Direction,
    FlagColumns,
    Labels,
    Layout,
    SlotLabels,
)
from kenshin.domain.slots import zone
from kenshin.errors import ExportError

CREATED = 1_795_576_800
# Zones with and without daylight saving, and days on which it starts and ends there.
ZONES = ("Asia/Tokyo", "Australia/Sydney", "Europe/Berlin", "America/New_York")
DST_DAYS = (date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 5), date(2026, 10, 4))
FORMULA_STARTS = ("=", "+", "-", "@")
_METER_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
# A meter id of "'" and a formula start is written as the id without its "'" would be.
METERS = st.text(_METER_CHARS, min_size=1, max_size=12).filter(
    lambda m: not (m.startswith("'") and m[1:].startswith(FORMULA_STARTS))
)


def test_every_layout_is_registered() -> None:
    assert set(LAYOUTS) == set(Layout)
    assert all(layout.name == name for name, layout in LAYOUTS.items())
    assert all(callable(layout.changes) for layout in LAYOUTS.values())


@st.composite
def customers(draw: st.DrawFn, layout: Layout) -> Customer:
    return Customer(
        id="C1",
        name="Acme",
        timezone=draw(st.sampled_from(ZONES)),
        encoding=draw(st.sampled_from(ENCODINGS)),
        layout=layout,
        labels=draw(st.sampled_from(Labels)),
        decimals=draw(st.integers(0, 6)),
        slot_labels=draw(st.sampled_from(SlotLabels)),
        flags=draw(st.sampled_from(FlagColumns)),
    )


@st.composite
def tables(draw: st.DrawFn, count: int) -> DayTable:
    keys = draw(st.lists(st.tuples(METERS, st.sampled_from(Direction)), max_size=4, unique=True))
    flags = draw(
        st.lists(
            st.text("ANQE", min_size=count, max_size=count), min_size=len(keys), max_size=len(keys)
        )
    )
    values = draw(
        st.lists(
            st.lists(st.integers(0, 10**12), min_size=count, max_size=count),
            min_size=len(keys),
            max_size=len(keys),
        )
    )
    codes = np.array([[ord(f) for f in row] for row in flags], np.uint8).reshape(len(keys), count)
    grid = np.array(values, np.int64).reshape(len(keys), count)
    grid[codes == ord("N")] = 0  # a slot without a value holds 0
    methods = np.where(codes == ord("E"), draw(st.integers(1, 3)), 0).astype(np.uint8)
    return DayTable(tuple(m for m, _ in keys), tuple(d for _, d in keys), grid, codes, methods)


def _expected(table: DayTable, day: date, layout: Layout) -> ParsedDay:
    ordered = table.in_order()
    flags = ordered.flag_texts()
    if layout == Layout.NEM12:  # NEM12 has no "measured, a check failed": it is A
        flags = [f.replace("Q", "A") for f in flags]
    return ParsedDay(day if len(table) else None, tuple(ordered.meter_days()), tuple(flags))


@pytest.mark.parametrize("layout", list(Layout))
@given(data=st.data())
def test_a_rendered_day_parses_back_to_the_same_day(layout: Layout, data: st.DataObject) -> None:
    customer = data.draw(customers(layout))
    day = data.draw(st.sampled_from(DST_DAYS) | st.dates(date(2020, 1, 1), date(2040, 12, 31)))
    slots = file_slots(customer, day)
    table = data.draw(tables(slots.count))
    file = render_day(customer, slots, table, created_at=CREATED)
    assert parse_day(customer, file.content) == _expected(table, day, layout)


@pytest.mark.parametrize("layout", list(Layout))
def test_a_file_that_is_not_of_the_layout_is_refused_with_what_is_wrong(layout: Layout) -> None:
    customer = Customer(id="C1", name="Acme", layout=layout)
    slots = file_slots(customer, date(2026, 11, 26))
    table = DayTable(
        ("M-1",),
        (Direction.FWD,),
        np.ones((1, slots.count), np.int64),
        np.full((1, slots.count), ord("A"), np.uint8),
    )
    content = render_day(customer, slots, table, created_at=CREATED).content
    broken = content.replace(b"0.000001", b"one", 1)
    with pytest.raises(ExportError, match="'one' is not a kWh value"):
        parse_day(customer, broken)


@pytest.mark.parametrize("layout", list(Layout))
@given(data=st.data())
def test_a_changed_slot_value_is_the_one_change_its_layout_reads(
    layout: Layout, data: st.DataObject
) -> None:
    customer = data.draw(customers(layout))
    day = data.draw(st.sampled_from(DST_DAYS) | st.dates(date(2020, 1, 1), date(2040, 12, 31)))
    slots = file_slots(customer, day)
    direction = data.draw(st.sampled_from(Direction))
    # Whole kWh, so that no setting of decimals rounds the change away.
    kwh = st.lists(st.integers(0, 10**6), min_size=slots.count, max_size=slots.count)
    before = np.array([data.draw(kwh), data.draw(kwh)], np.int64) * 1_000
    slot = data.draw(st.integers(0, slots.count - 1))
    after = before.copy()
    after[0, slot] = 1_000 * data.draw(
        st.integers(0, 10**6).filter(lambda v: v != after[0, slot] // 1_000)
    )
    flags = np.full((2, slots.count), ord("A"), np.uint8)
    cells = KwhCells(customer.decimals)

    def text(values: np.ndarray) -> str:
        table = DayTable(("M-1", "M-2"), (direction, direction), values, flags)
        return LAYOUTS[layout].render(customer, slots, table, cells, CREATED)[0]

    starts = slot_starts(slots, zone(customer.timezone))
    record = LAYOUTS[layout].changes(
        text(before), text(after), starts=starts, reported=slots.count, flags=customer.flags
    )
    assert record.count == 1
    [change] = record.changes
    assert change == SlotChange("M-1", direction.value, slot, change.before, change.after)
    assert (mwh_of_cell(change.before[0]), change.before[1]) == (before[0, slot], "A")
    assert (mwh_of_cell(change.after[0]), change.after[1]) == (after[0, slot], "A")
