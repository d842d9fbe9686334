"""The report of a simulated fleet counts exactly the faults the simulation put in: per
day and meter, per root cause, and in the CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date, timedelta

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.report import DailyReport, root_causes
from kenshin.domain.report_render import render_csv
from kenshin.domain.slots import local_day
from kenshin.services.report import gather_report
from kenshin.sim.fleet import fleet_meters
from kenshin.sim.transmission import fleet_faults
from report.conftest import (
    CUSTOMER,
    CUT,
    DAYS,
    END,
    LAST,
    SILENT,
    SPEC,
    START,
    TZ,
    units,
)

Counts = dict[str, tuple[int, int, int]]  # meter -> (missing, estimated, questionable)


def expected_by_day() -> dict[date, Counts]:
    """Where the faults should show, per local day and meter: a spike's slot and both
    slots of a conflicting reading questionable; both slots of a quarantined (future-
    dated) reading missing, then estimated; a silent unit's slots from its last reading
    to the day's end missing, then estimated from its like days."""
    meter_of = {m.device: m.id for m in fleet_meters(SPEC)}
    missing: defaultdict[tuple[date, str], set[int]] = defaultdict(set)
    questionable: defaultdict[tuple[date, str], set[int]] = defaultdict(set)
    for device, fault, t in fleet_faults(SPEC):
        found = questionable if fault in {"spike", "conflict"} else missing
        for start in [t] if fault == "spike" else [t - 1800, t]:
            found[(local_day(start, TZ), meter_of[device])].add(start)
    for device in SILENT:
        missing[(LAST, meter_of[device])] |= set(range(CUT - 1800, END, 1800))
    by_day: dict[date, Counts] = defaultdict(dict)
    for day, meter in missing.keys() | questionable.keys():
        gaps = len(missing[(day, meter)])
        by_day[day][meter] = (gaps, gaps, len(questionable[(day, meter)]))
    return by_day


def report_of(store: MemoryStore, day: date) -> DailyReport:
    return gather_report(store, day, now=END + 3600, units=units(), events=[])


def test_every_day_counts_each_meters_faults_exactly(fleet: MemoryStore) -> None:
    expected = expected_by_day()
    # 9 faults and 3 silent units; one quarantined reading falls on a midnight, so its
    # two slots fall on two days.
    assert sum(len(counts) for counts in expected.values()) == 13
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        [customer] = report_of(fleet, day).customers
        found = {m.meter: (m.missing, m.estimated, m.questionable) for m in customer.problems}
        assert found == expected.get(day, {}), day
        assert customer.meters == 40
        assert set(customer.silent) == (set(SILENT) if day == LAST else set()), day


def test_root_causes_add_up_to_the_faults_of_each_kind(fleet: MemoryStore) -> None:
    slots: Counter[str] = Counter()
    for offset in range(DAYS):
        for cause in root_causes(report_of(fleet, START + timedelta(days=offset))):
            slots[cause.kind] += cause.slots
    faults = Counter(fault for _, fault, _ in fleet_faults(SPEC))
    assert faults == {"spike": 3, "conflict": 3, "future": 3}
    # A quarantined reading leaves two slots without a value: the store does not mark
    # its boundary, so they count as missing.
    assert slots == {"spike": 3, "conflict": 6, "missing": 6, "silent": 3 * 43}


def test_the_last_day_reads_as_one_line_per_cause(fleet: MemoryStore) -> None:
    report = report_of(fleet, LAST)
    assert [c.text() for c in root_causes(report)] == [
        "3 silent units (3 meters) of customer C1, all units on firmware 1.4.2, signal weak"
        " (RSRP below -105 dBm): no reading since 02:30, 129 slots missing",
        "3 meters of customer C1, all units on firmware 1.5.0, signal good"
        " (RSRP -90 dBm or more): 3 slots with a spike far above the meter's peak",
    ]
    totals = report.totals()
    assert (totals.missing, totals.estimated, totals.questionable) == (129, 129, 3)
    assert (totals.meters_with_problems, totals.silent_units, totals.security_events) == (6, 3, 0)


def test_the_csv_has_one_row_per_meter_with_a_problem(fleet: MemoryStore) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(report_of(fleet, LAST)).decode())))
    assert [r["meter"] for r in rows] == [
        "M-0000001",
        "M-0000002",
        "M-0000003",
        "M-0000004",
        "M-0000012",
        "M-0000037",
    ]
    silent = rows[1]
    assert silent == {
        "customer": CUSTOMER.id,
        "device": "U-000002",
        "meter": "M-0000002",
        "missing": "43",
        "estimated": "43",
        "questionable": "0",
        "rules": "missing:43",
        "last_reading": "2026-10-22T02:30+09:00",
        "last_seen": "2026-10-21T17:30:00Z",
        "firmware": "1.4.2",
        "rsrp_dbm": "-112",
    }
    assert rows[0]["rules"] == "spike:1 high:1"
    assert rows[0]["last_reading"] == "2026-10-23T00:00+09:00"  # the day's end: read all day
