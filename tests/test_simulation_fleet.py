"""The simulated fleet itself: its spec and faults, meters, load profiles and messages."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from itertools import pairwise

import pytest

from kenshin.domain.model import MeterSpec
from kenshin.domain.slots import zone
from kenshin.sim.faults import FAULTS, parse_faults
from kenshin.sim.fleet import FleetSpec, fleet_meters, fleet_truth
from kenshin.sim.profiles import run_calendar
from kenshin.sim.transmission import fleet_lines, fleet_messages

START = date(2026, 11, 26)  # a Thursday


def test_parse_faults_reads_names_and_all() -> None:
    assert parse_faults("offline, Duplicates") == {"offline", "duplicates"}
    assert parse_faults("all") == frozenset(FAULTS)
    assert parse_faults("") == frozenset()


def test_parse_faults_names_the_choices_for_an_unknown_fault() -> None:
    with pytest.raises(ValueError, match=r"unknown fault brownout: choose from offline, .*, all"):
        parse_faults("offline,brownout")


@pytest.mark.parametrize(
    ("devices", "days", "timezone", "faults"),
    [
        (-1, 1, "Asia/Tokyo", set()),
        (1, 0, "Asia/Tokyo", set()),
        (1, 1, "Mars/Base", set()),
        (1, 1, "Asia/Tokyo", {"brownout"}),
    ],
)
def test_fleet_spec_refuses_what_cannot_be_simulated(
    devices: int, days: int, timezone: str, faults: set[str]
) -> None:
    with pytest.raises(ValueError, match=r"devices|days|time zone|fault"):
        FleetSpec(devices, days, START, timezone=timezone, faults=frozenset(faults))


def test_a_fault_hits_a_small_share_of_a_large_fleet() -> None:
    spec = FleetSpec(200, 1, START, faults=frozenset({"exchange"}))
    meters = list(fleet_meters(spec))
    exchanged = [(old, new) for old, new in pairwise(meters) if new.id == f"{old.id}-X1"]
    assert 10 <= len(exchanged) <= 20
    assert all(0 < old.last == new.first < 48 == new.last for old, new in exchanged)


def test_profiles_look_like_homes_offices_and_solar() -> None:
    spec = FleetSpec(60, 4, START, seed=3)
    kinds = {meter.id: meter.kind for meter in fleet_meters(spec)}
    tz = zone("Asia/Tokyo")
    energy: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0])
    for slot in fleet_truth(spec):
        local = datetime.fromtimestamp(slot.start, tz)
        key = (kinds[slot.meter], local.weekday(), local.hour)
        energy[key][0] += slot.fwd_mwh
        energy[key][1] += slot.rev_mwh
        if kinds[slot.meter] != "pv" or not 6 <= local.hour < 18:
            assert slot.rev_mwh == 0
    assert {"home", "pv", "office", "shop"} <= set(kinds.values())
    assert energy[("home", 3, 19)][0] > 2 * energy[("home", 3, 3)][0]
    assert energy[("office", 4, 11)][0] > 2 * energy[("office", 5, 11)][0]
    assert energy[("pv", 5, 12)][1] > 0


def test_meters_mix_residential_and_ct_connected_specs() -> None:
    specs = {meter.spec for meter in fleet_meters(FleetSpec(200, 1, START))}
    assert MeterSpec(100_000, 1, 6) in specs
    assert MeterSpec(10_000, 1, 8) in specs
    assert any(s.unit_mwh == 1_000 and s.coefficient > 1 for s in specs)


def test_lines_are_the_messages_in_compact_json_whatever_is_held() -> None:
    spec = FleetSpec(5, 2, START, seed=2, faults=frozenset(FAULTS))
    messages = list(fleet_messages(spec))
    expected = [json.dumps(m, separators=(",", ":")) for m in messages]
    assert [line for line, _ in fleet_lines(spec)] == expected
    assert [line for line, _ in fleet_lines(spec, held=1)] == expected
    assert [n for _, n in fleet_lines(spec)] == [
        sum(len(block["readings"]) for block in m["meters"]) for m in messages
    ]


def test_calendar_of_a_dst_day_has_46_slots_and_local_times_across_the_change() -> None:
    cal = run_calendar(date(2026, 3, 29), 2, "Europe/Berlin", seed=0)
    assert (cal.slots, cal.day_edges) == (46 + 48, (0, 46, 94))
    assert {len(shape) for shape in cal.shapes.values()} == {94}
    assert cal.local_iso[0] == "2026-03-29T00:00:00+01:00"
    assert cal.local_iso[2:5] == (
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
    )
    assert cal.local_iso[46] == "2026-03-30T00:00:00+02:00"
    # No sun in the small hours, whatever the sky: a solar meter then sends nothing back.
    assert cal.shapes["solar"][:6] == (0.0,) * 6
