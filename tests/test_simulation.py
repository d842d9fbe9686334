"""The simulator's files: repeatable, exact truth behind the messages, every fault visible."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import kenshin
from kenshin.domain.energy import UNIT_MWH
from kenshin.domain.intervals import slot_values
from kenshin.domain.model import MeterSpec
from kenshin.domain.slots import day_slots, zone
from kenshin.sim.faults import FAULTS, parse_faults
from kenshin.sim.files import SimulationSummary, write_simulation
from kenshin.sim.fleet import FleetSpec, fleet_truth
from kenshin.sim.transmission import FUTURE_DAYS, fleet_messages

START = date(2026, 11, 26)  # a Thursday
Series = dict[str, dict[int, tuple[int, int]]]


def _epoch(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.tzinfo is not None
    return int(moment.timestamp())


def _simulate(
    tmp_path: Path, devices: int = 20, days: int = 2, faults: str = "", seed: int = 7
) -> tuple[SimulationSummary, list[str]]:
    spec = FleetSpec(devices, days, START, seed=seed, faults=parse_faults(faults))
    summary = write_simulation(spec, tmp_path / "fleet.jsonl")
    return summary, summary.messages_path.read_text(encoding="utf-8").splitlines()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def _registers(messages: Iterable[dict[str, Any]]) -> tuple[Series, dict[str, MeterSpec]]:
    """Each meter's readings by instant, and its spec, from decoded messages, as kenshin
    keeps them: the first value of an instant (a later different one is a conflict, the
    ``conflict`` fault), and no reading dated FUTURE_DAYS ahead (the ``future`` fault:
    quarantined)."""
    series: Series = defaultdict(dict)
    specs: dict[str, MeterSpec] = {}
    for message in messages:
        sent = _epoch(message["sent"])
        for block in message["meters"]:
            meter = block["meter"]
            specs[meter] = MeterSpec(UNIT_MWH[block["unit"]], block["coefficient"], block["digits"])
            for reading in block["readings"]:
                t = _epoch(reading["t"])
                if t > sent + 86_400:
                    assert t - FUTURE_DAYS * 86_400 <= sent + 3600  # a clock may be off
                    continue
                series[meter].setdefault(t, (reading["fwd"], reading["rev"]))
    return series, specs


def _wrapped_energy(values: list[int], spec: MeterSpec) -> int:
    return sum((b - a) % spec.modulus for a, b in pairwise(values)) * spec.resolution_mwh


def _message_symptoms(lines: list[str]) -> set[str]:
    found: set[str] = set()
    latest: dict[str, int] = {}
    last_sent: dict[str, int] = {}
    sent_before: set[tuple[str, int]] = set()
    for message in map(json.loads, lines):
        device = message["device"]
        if (device, message["seq"]) in sent_before:
            continue  # a message sent again (duplicates, conflict) says nothing new here
        sent_before.add((device, message["seq"]))
        sent = _epoch(message["sent"])
        times = [_epoch(r["t"]) for block in message["meters"] for r in block["readings"]]
        if max(times) > sent + 86_400:
            found.add("future")
            times = [t for t in times if t <= sent + 86_400] or [sent]
        if len(set(times)) >= 7 and sent - last_sent.get(device, sent) > 2.5 * 3600:
            found.add("offline")
        if min(times) < latest.get(device, min(times)):
            found.add("reorder")
        if abs(sent - max(times)) > 120:
            found.add("clock")
        latest[device] = max(latest.get(device, 0), *times)
        last_sent[device] = max(last_sent.get(device, 0), sent)
    return found


def _quarantined(messages: Iterable[dict[str, Any]]) -> int:
    """Readings dated a day or more after their message was sent (the ``future`` fault),
    each once, though its message may come twice (the ``duplicates`` fault)."""
    return len(
        {
            (block["meter"], r["t"])
            for m in messages
            for block in m["meters"]
            for r in block["readings"]
            if _epoch(r["t"]) > _epoch(m["sent"]) + 86_400
        }
    )


def _symptoms(lines: list[str]) -> set[str]:
    """The faults a reader of the message file can see."""
    found = _message_symptoms(lines)
    if len(set(lines)) < len(lines):
        found.add("duplicates")
    messages = [json.loads(line) for line in lines]
    meters_of: dict[str, set[str]] = defaultdict(set)
    for message in messages:
        meters_of[message["device"]].update(block["meter"] for block in message["meters"])
    if any(len(meters) > 1 for meters in meters_of.values()):
        found.add("exchange")
    series, specs = _registers(messages)
    for meter, values in series.items():
        forward = [values[t][0] for t in sorted(values)]
        if any(b < a for a, b in pairwise(forward)):
            found.add("rollover")
        steps = sorted(b - a for a, b in pairwise(forward) if b >= a)
        if len(steps) > 1 and (steps[-1] - 3 * steps[-2]) * specs[meter].resolution_mwh > 10**6:
            found.add("spike")  # one slot far above every other of the meter
    if _conflicting(messages):
        found.add("conflict")
    return found


def _conflicting(messages: Iterable[dict[str, Any]]) -> bool:
    """Whether a reading came twice with different values."""
    seen: dict[tuple[str, str], tuple[int, int]] = {}
    return any(
        seen.setdefault((block["meter"], r["t"]), (r["fwd"], r["rev"])) != (r["fwd"], r["rev"])
        for message in messages
        for block in message["meters"]
        for r in block["readings"]
    )


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first, _ = _simulate(tmp_path / "a", faults="all")
    second, _ = _simulate(tmp_path / "b", faults="all")
    other, _ = _simulate(tmp_path / "c", faults="all", seed=8)
    for name in ("messages_path", "truth_path", "devices_path"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes()
    assert first.messages_path.read_bytes() != other.messages_path.read_bytes()


def test_files_are_named_after_the_output_and_leave_nothing_else(tmp_path: Path) -> None:
    summary, _ = _simulate(tmp_path, devices=3, days=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fleet.devices.csv",
        "fleet.jsonl",
        "fleet.truth.csv",
    ]
    assert summary.truth_path.read_text(encoding="utf-8").startswith(
        "meter,slot_start,fwd_mwh,rev_mwh\nM-0000001,2026-11-25T15:00:00Z,"
    )
    assert _rows(summary.devices_path) == [
        {"device": f"U-00000{i}", "meter": f"M-000000{i}"} for i in (1, 2, 3)
    ]


def test_clean_run_sends_every_boundary_once_in_seq_order(tmp_path: Path) -> None:
    summary, lines = _simulate(tmp_path, devices=4, days=2)
    messages = [json.loads(line) for line in lines]
    assert (summary.devices, summary.meters) == (4, 4)
    assert summary.messages == summary.readings == len(lines) == 4 * (2 * 48 + 1)
    by_device = defaultdict(list)
    for message in messages:
        by_device[message["device"]].append(message)
    for sent in by_device.values():
        assert [m["seq"] for m in sent] == list(range(sent[0]["seq"], sent[0]["seq"] + 97))
        stamps = [m["meters"][0]["readings"][0]["t"] for m in sent]
        assert stamps[0] == "2026-11-26T00:00:00+09:00"
        assert stamps[-1] == "2026-11-28T00:00:00+09:00"
        assert all(
            2 <= _epoch(m["sent"]) - _epoch(t) <= 30 for m, t in zip(sent, stamps, strict=True)
        )
    arrivals = [_epoch(m["sent"]) for m in messages]
    assert arrivals == sorted(arrivals)
    assert _symptoms(lines) == set()


def test_messages_have_the_v1_shape(tmp_path: Path) -> None:
    _, lines = _simulate(tmp_path, faults="all")
    for line in lines:
        assert ": " not in line
        assert ", " not in line
        message = json.loads(line)
        assert list(message) == ["v", "device", "seq", "sent", "meters"]
        assert message["v"] == 1
        assert message["device"].startswith("U-")
        assert isinstance(message["seq"], int)
        assert _epoch(message["sent"])
        for block in message["meters"]:
            assert list(block) == ["meter", "unit", "coefficient", "digits", "readings"]
            assert block["unit"] in UNIT_MWH
            assert 1 <= block["digits"] <= 8
            assert isinstance(block["coefficient"], int)
            assert block["coefficient"] >= 1
            for reading in block["readings"]:
                assert list(reading) == ["t", "fwd", "rev"]
                assert _epoch(reading["t"]) % 1800 == 0
                assert reading["t"].endswith("+09:00")
                for register in (reading["fwd"], reading["rev"]):
                    assert isinstance(register, int)
                    assert 0 <= register < 10 ** block["digits"]


def test_truth_is_the_register_difference_kenshin_computes(tmp_path: Path) -> None:
    summary, lines = _simulate(tmp_path, faults="all")
    series, specs = _registers(json.loads(line) for line in lines)
    truth: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
    for row in _rows(summary.truth_path):
        truth[row["meter"]][_epoch(row["slot_start"])] = (int(row["fwd_mwh"]), int(row["rev_mwh"]))
    assert set(truth) == set(series) == {row["meter"] for row in _rows(summary.devices_path)}
    assert sum(len(slots) for slots in truth.values()) == 20 * 2 * 48
    tz = zone("Asia/Tokyo")
    for meter, readings in series.items():
        spec = specs[meter]
        for day in (START, date(2026, 11, 27)):
            slots = day_slots(day, tz)
            for direction in (0, 1):
                registers = {t: values[direction] for t, values in readings.items()}
                computed = slot_values(registers, slots, spec)
                expected = tuple(
                    truth[meter][t][direction]
                    if t in truth[meter] and {t, t + 1800} <= registers.keys()
                    else None
                    for t in slots.boundaries[:-1]
                )
                assert computed == expected


def test_truth_conserves_each_meter_register_across_wraps(tmp_path: Path) -> None:
    summary, lines = _simulate(tmp_path, faults="rollover,exchange")
    series, specs = _registers(json.loads(line) for line in lines)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in _rows(summary.truth_path):
        totals[row["meter"]][0] += int(row["fwd_mwh"])
        totals[row["meter"]][1] += int(row["rev_mwh"])
    for meter, readings in series.items():
        ordered = [readings[t] for t in sorted(readings)]
        for direction in (0, 1):
            values = [r[direction] for r in ordered]
            assert totals[meter][direction] == _wrapped_energy(values, specs[meter])
    assert "rollover" in _symptoms(lines)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_shows_and_only_it(tmp_path: Path, fault: str) -> None:
    _, lines = _simulate(tmp_path, faults=fault)
    assert _symptoms(lines) == {fault}


def test_all_faults_show_together(tmp_path: Path) -> None:
    _, lines = _simulate(tmp_path, faults="all")
    assert _symptoms(lines) == set(FAULTS)


def test_exchange_hands_over_at_one_boundary(tmp_path: Path) -> None:
    _, lines = _simulate(tmp_path, faults="exchange")
    series, _ = _registers(json.loads(line) for line in lines)
    new = next(meter for meter in series if meter.endswith("-X1"))
    old = new.removesuffix("-X1")
    assert max(series[old]) == min(series[new])
    assert len(series[old]) + len(series[new]) == 2 * 48 + 2
    assert all(value[0] < 100 for t, value in series[new].items() if t == min(series[new]))


def test_offline_backlog_comes_as_one_message_and_seq_continues(tmp_path: Path) -> None:
    _, lines = _simulate(tmp_path, faults="offline")
    messages = [json.loads(line) for line in lines]
    backlog = next(m for m in messages if len(m["meters"][0]["readings"]) >= 7)
    own = [m for m in messages if m["device"] == backlog["device"]]
    seqs = [m["seq"] for m in own]
    assert seqs == list(range(seqs[0], seqs[0] + len(own)))
    assert sum(len(m["meters"][0]["readings"]) for m in own) == 2 * 48 + 1


def test_a_dst_day_has_46_slots_and_nothing_breaks() -> None:
    spec = FleetSpec(2, 1, date(2026, 3, 29), timezone="Europe/Berlin", faults=parse_faults("all"))
    messages = list(fleet_messages(spec))
    series, _ = _registers(messages)
    assert len({t for readings in series.values() for t in readings}) == 47
    assert sum(len(r) - 1 for r in series.values()) == 2 * 46 - _quarantined(messages)
    assert len(list(fleet_truth(spec))) == 2 * 46
    assert messages[0]["meters"][0]["readings"][0]["t"] == "2026-03-29T00:00:00+01:00"


def test_progress_counts_every_message(tmp_path: Path) -> None:
    counts: list[int] = []
    spec = FleetSpec(3, 1, START, faults=frozenset({"duplicates"}))
    summary = write_simulation(spec, tmp_path / "out.jsonl", counts.append)
    assert sum(counts) == summary.messages == 3 * 49 + 1


def test_an_empty_fleet_writes_headers_only(tmp_path: Path) -> None:
    summary = write_simulation(FleetSpec(0, 1, START), tmp_path / "none.jsonl")
    assert (summary.messages, summary.meters) == (0, 0)
    assert summary.messages_path.read_bytes() == b""
    assert summary.devices_path.read_text(encoding="utf-8") == "device,meter\n"


@settings(max_examples=25, deadline=None)
@given(
    devices=st.integers(1, 3),
    days=st.integers(1, 2),
    seed=st.integers(0, 10**6),
    faults=st.frozensets(st.sampled_from(FAULTS)),
    timezone=st.sampled_from(["Asia/Tokyo", "Europe/Berlin", "America/New_York", "UTC"]),
    start=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
)
def test_truth_sums_to_the_register_span_of_every_meter(
    devices: int, days: int, seed: int, faults: frozenset[str], timezone: str, start: date
) -> None:
    spec = FleetSpec(devices, days, start, timezone=timezone, seed=seed, faults=faults)
    messages = list(fleet_messages(spec))
    series, specs = _registers(messages)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for slot in fleet_truth(spec):
        totals[slot.meter][0] += slot.fwd_mwh
        totals[slot.meter][1] += slot.rev_mwh
    for meter, readings in series.items():
        ordered = [readings[t] for t in sorted(readings)]
        for direction in (0, 1):
            values = [r[direction] for r in ordered]
            assert totals[meter][direction] == _wrapped_energy(values, specs[meter])
    slots = sum(day_slots(d, zone(timezone)).count for d in _days(start, days))
    assert sum(len(r) - 1 for r in series.values()) == devices * slots - _quarantined(messages)


def _days(start: date, days: int) -> list[date]:
    return [date.fromordinal(start.toordinal() + d) for d in range(days)]


def _sent_minutes(out: Path) -> set[int]:
    """The minutes past the half hour at which the messages in ``out`` were sent."""
    lines = out.read_text().splitlines()
    sent = [json.loads(line)["sent"] for line in lines]
    return {datetime.fromisoformat(s).minute % 30 for s in sent}


def test_simulate_spread_sends_each_units_messages_at_its_offset(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert kenshin(site, "init", str(site)).exit_code == 0
    for name, extra in (("together", ()), ("spread", ("--spread", "1800"))):
        out = tmp_path / f"{name}.jsonl"
        args = ("--devices", "60", "--start", "2026-12-01", "--out", str(out), *extra)
        assert kenshin(site, "simulate", *args).exit_code == 0
    assert _sent_minutes(tmp_path / "together.jsonl") == {0}  # seconds after :00 and :30
    assert len(_sent_minutes(tmp_path / "spread.jsonl")) >= 20  # over the half hour
