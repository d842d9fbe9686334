"""The simulator's check of published files against its truth reads every layout: a
file's slots are matched, estimated, without value or mismatched, whatever its layout,
also on a daylight-saving day (where a NEM12 day is cut in standard time)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.csvfiles import file_slots, render_day
from kenshin.domain.daytable import DayTable
from kenshin.domain.manifest import manifest_name
from kenshin.domain.model import Customer, Direction, FlagColumns, Layout
from kenshin.sim.verify import verify_files

DAYS = [("Asia/Tokyo", date(2026, 11, 26)), ("Australia/Sydney", date(2026, 4, 5))]


@pytest.mark.parametrize("flags", list(FlagColumns))
@pytest.mark.parametrize(("timezone", "day"), DAYS)
@pytest.mark.parametrize("layout", list(Layout))
def test_each_slot_of_a_file_is_checked_against_the_truth(
    tmp_path: Path, layout: Layout, timezone: str, day: date, flags: FlagColumns
) -> None:
    customer = Customer("C1", "Acme", timezone=timezone, layout=layout, flags=flags)
    slots = file_slots(customer, day)
    values = np.arange(1, slots.count + 1, dtype=np.int64).reshape(1, -1) * 1_001
    codes = np.full((1, slots.count), ord("A"), np.uint8)
    codes[0, 0], codes[0, 1], values[0, 1] = ord("E"), ord("N"), 0  # estimated; no value
    table = DayTable(
        ("M-1",), (Direction.REV,), values, codes, (codes == ord("E")).astype(np.uint8)
    )
    outbox = LocalOutbox(tmp_path)
    outbox.publish("C1", "day.csv", render_day(customer, slots, table, created_at=0).content)
    outbox.publish("C1", manifest_name("day.csv"), b"{}")
    truth = {
        ("M-1", start, "rev"): int(v) for start, v in zip(slots.boundaries, values[0], strict=False)
    }
    truth[("M-1", slots.boundaries[5], "rev")] += 1

    check = verify_files(outbox, customer, truth)

    assert (check.files, check.slots) == (1, slots.count)
    assert (check.estimated, check.without_value, check.missing) == (1, 1, 1)
    assert check.matched == slots.count - 3
    assert check.mismatches == [f"M-1 rev {day} slot 6: file 6006 mWh, truth 6007"]
    assert not check.exact
