"""Simulated units answering the server's commands (``kenshin simulate --answer-commands``)
from what they keep, and publishing only a window of the run (``--publish-from``,
``--publish-until``)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import kenshin
from kenshin.adapters.outbox import LocalOutbox
from kenshin.domain.commands import resend_payload
from kenshin.domain.model import Customer
from kenshin.entrypoints.cli import cli
from kenshin.sim.files import write_simulation
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.memory import UnitMemory
from kenshin.sim.publish import Replay, publish_fleet
from kenshin.sim.verify import Verification, load_truth, verify_files
from test_simulate_network import DAY, fleet_site, ids, message, publish, serving

RUN_DAY = date(2026, 11, 25)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def memory_of(tmp_path: Path, *faults: str) -> tuple[UnitMemory, list[str]]:
    """The memory of a 3-unit fleet of RUN_DAY, and the lines of its messages file."""
    path = tmp_path / "fleet.jsonl"
    write_simulation(FleetSpec(3, 1, RUN_DAY, "Asia/Tokyo", 1, frozenset(faults)), path)
    return UnitMemory.of_file(path), path.read_text().splitlines()


def reading_times(line: str) -> list[str]:
    return [r["t"] for block in json.loads(line)["meters"] for r in block["readings"]]


# what a unit answers, no network


def test_a_resend_is_answered_with_the_units_messages_holding_readings_of_the_range(
    tmp_path: Path,
) -> None:
    memory, lines = memory_of(tmp_path)
    start = at("2026-11-25T06:00:00+09:00")
    command = resend_payload(7, start, start + 3600)
    answer = memory.answer("U-000002", command)
    assert answer is not None
    assert [reading_times(line) for line in answer] == [
        ["2026-11-25T06:00:00+09:00"],  # from and to are both included
        ["2026-11-25T06:30:00+09:00"],
        ["2026-11-25T07:00:00+09:00"],
    ]
    assert all(line in lines and '"device":"U-000002"' in line for line in answer)  # as sent
    memory.remember("U-000002", command, len(answer))
    assert memory.answer("U-000002", command) is None  # answered once, however often it comes
    assert (memory.answered, memory.resent) == (1, 3)
    assert memory.answer("U-000001", command) is not None  # another unit's memory
    again = memory.answer("U-000002", resend_payload(8, start, start + 3600))
    assert again == answer  # a new command for the same range is answered anew


def test_a_backlog_message_goes_again_whole_when_one_of_its_readings_is_asked(
    tmp_path: Path,
) -> None:
    memory, lines = memory_of(tmp_path, "offline")
    backlog = next(line for line in lines if len(reading_times(line)) > 2)
    device = json.loads(backlog)["device"]
    last = at(reading_times(backlog)[-1])
    answer = memory.answer(device, resend_payload(1, last, last))
    assert answer == [backlog]


def test_a_range_the_unit_has_nothing_of_is_answered_with_nothing(tmp_path: Path) -> None:
    memory, _ = memory_of(tmp_path)
    before = at("2026-11-24T00:00:00+09:00")
    command = resend_payload(3, before, before + 3600)
    assert memory.answer("U-000001", command) == []
    memory.remember("U-000001", command, 0)
    assert (memory.answered, memory.resent) == (1, 0)
    assert memory.answer("U-000009", resend_payload(4, before, before + 3600)) == []


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"v":1,"command":"reboot","id":1}',
        b'{"v":1,"command":"resend","from":"2026-11-25T00:00:00Z","to":"2026-11-25T06:00:00Z"}',
        b'{"v":1,"command":"resend","id":true,"from":"2026-11-25T00:00:00Z","to":"2026-11-25T06:00:00Z"}',
        b'{"v":1,"command":"resend","id":2,"from":"soon","to":"2026-11-25T06:00:00Z"}',
    ],
)
def test_what_is_not_a_resend_is_not_answered(tmp_path: Path, payload: bytes) -> None:
    memory, _ = memory_of(tmp_path)
    assert memory.answer("U-000001", payload) is None
    memory.remember("U-000001", payload, 0)
    assert memory.answered == 0


class RecordingUnit:
    """Stands in for a unit's connection: records each wake's seqs, acknowledges all."""

    wakes: list[list[int]]

    def __init__(self, device: str, wakes: list[list[int]]) -> None:
        self.device, self.tls, self.published, self.connected = device, None, 0, 1
        self.stalled, self.wakes = "", wakes
        self.offset_s: int | None = None

    def probe(self) -> None:
        return None

    def publish(self, payloads: list[str]) -> list[int]:
        self.wakes.append([json.loads(p)["seq"] for p in payloads])
        self.published = len(payloads)
        return []


class RecordingUnits:
    def __init__(self) -> None:
        self.wakes: list[list[int]] = []

    def check(self, device: str) -> None:
        return None

    def open(self, device: str, tls: object) -> RecordingUnit:
        return RecordingUnit(device, self.wakes)


def test_only_the_wakes_in_the_window_publish() -> None:
    base = at("2026-11-25T00:00:00+00:00")  # a multiple of an hour
    stream = [
        {
            **message("U-1", datetime.fromtimestamp(base + 3600 * k).astimezone().isoformat()),
            "seq": k,
        }
        for k in range(5)
    ]
    units = RecordingUnits()
    window = Replay(wake_minutes=60, since=base + 3600, until=base + 3 * 3600)
    summary = publish_fleet(stream, units, window)
    assert units.wakes == [[1], [2]]  # each wakes a phase after its hour: 0 before, 3 after
    assert (summary.messages, summary.acknowledged) == (2, 2)


def test_a_window_that_ends_before_it_begins_is_refused(tmp_path: Path) -> None:
    out = str(tmp_path / "f.jsonl")
    options = ["simulate", "--devices", "1", "--out", out]
    result = CliRunner().invoke(
        cli, [*options, "--publish-from", "2026-11-25T10:00", "--publish-until", "2026-11-25T06:00"]
    )
    assert result.exit_code == 2
    assert "--publish-from must be before --publish-until" in result.output
    result = CliRunner().invoke(cli, [*options, "--publish-from", "10:00"])
    assert result.exit_code == 2
    assert (
        "Invalid value for --publish-from: '10:00': expected a time as YYYY-MM-DDTHH:MM"
        in result.output
    )


# units answering kenshin serve


def exported(site: Path) -> Verification:
    done = kenshin(site, "export", "--customer", "C-001", "--date", DAY.isoformat())
    assert done.exit_code == 0, done.output
    truth = load_truth(site / "fleet.truth.csv")
    return verify_files(LocalOutbox(site / "outbox"), Customer("C-001", "Example"), truth)


@pytest.mark.integration
def test_units_answering_a_resend_bring_back_what_never_got_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENSHIN_RECOVERY__ENABLED", "false")  # the operator asks, not the server
    site = fleet_site(tmp_path, 5)
    fast = ["--speed", "max", "--wake-minutes", "60"]

    def lossy(port: int) -> None:
        # The wakes from 06:00 to 10:00 never get through; the units keep their messages.
        until = publish(site, port, *fast, "--publish-until", f"{DAY}T06:00")
        assert until.exit_code == 0, until.output
        window = ["--publish-from", f"{DAY}T10:00", "--publish-until", f"{DAY}T16:00"]
        later = publish(site, port, *fast, *window)
        assert later.exit_code == 0, later.output

    serving(site, lossy)
    before = exported(site)
    assert before.missing > 0
    for device in sorted(set(ids(site))):  # queued in the store while no server runs
        asked = kenshin(
            site, "devices", "resend", device, "--from", f"{DAY}T00:00", "--to", f"{DAY}T10:00"
        )
        assert asked.exit_code == 0, asked.output
    answered = serving(
        site,
        lambda port: publish(
            site, port, *fast, "--publish-from", f"{DAY}T16:00", "--answer-commands"
        ),
    )
    assert answered.exit_code == 0, answered.output
    assert re.search(r"; 5 commands answered with \d+ messages sent again\n", answered.output)
    after = exported(site)
    assert (after.mismatches, after.missing) == ([], 0)
    # Estimated: the slots around a reading dated in the future, quarantined.
    truth = load_truth(site / "fleet.truth.csv")
    assert after.matched + after.estimated == len(truth)
