"""kenshin on AWS end to end, on moto: a simulated fleet with every fault, its messages on
the ingest queue as IoT Core's topic rule puts them, taken off it in batches by the
ingest function, then the export function run on its schedule; the files, manifests and
change records it puts in S3 are byte for byte those ``kenshin export`` writes to a
local outbox from the same messages."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from aws_lambda.conftest import Aws, iot_body, lambda_site
from conftest import kenshin, make_site
from kenshin.bootstrap import open_app
from kenshin.domain.changes import CHANGES_SUFFIX
from kenshin.domain.manifest import MANIFEST_SUFFIX
from kenshin.domain.slots import zone
from kenshin.entrypoints.aws_lambda import export, ingest, runtime
from kenshin.services.incoming import Incoming
from kenshin.sim.faults import FAULTS, READING_FAULTS
from kenshin.sim.files import write_simulation
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.transmission import fleet_arrivals

TOKYO = zone("Asia/Tokyo")
QUEUED = 20  # messages on the queue at once: moto takes longer for each the more there are
START = date(2026, 3, 2)  # a Monday; the clock of every step is fixed
DAYS = 2
SPEC = FleetSpec(8, DAYS, START, "Asia/Tokyo", seed=11, faults=frozenset(FAULTS + READING_FAULTS))


def at(day: date, hour: int) -> int:
    """Local ``hour`` of ``day`` in Tokyo, UTC epoch s."""
    return int(datetime.combine(day, time(hour), TOKYO).timestamp())


# The export runs: the second day under way (its file provisional, late readings to
# come), then the day after, all in (final files, restated days, change records).
RUNS = (at(START + timedelta(days=1), 13), at(START + timedelta(days=2), 13))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, str]]]:
    """The fleet's devices file, and its messages with their arrivals, in order."""
    summary = write_simulation(SPEC, tmp_path_factory.mktemp("fleet") / "fleet.jsonl")
    arrivals = list(fleet_arrivals(SPEC))
    assert max(arrival for arrival, _ in arrivals) < RUNS[-1]
    return summary.devices_path, arrivals


def device_of(line: str) -> str:
    """The device of a simulated message."""
    device: str = json.loads(line)["device"]
    return device


def runs(arrivals: Sequence[tuple[int, str]]) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Each export run's time, with the messages that arrived since the run before."""
    since = 0
    for run in RUNS:
        yield run, [(a, line) for a, line in arrivals if since <= a < run]
        since = run


def reference(
    tmp_path: Path, devices: Path, arrivals: Sequence[tuple[int, str]], patch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    """A local site fed the same messages through ingest, exported by ``kenshin export``
    at each run's time: its outbox's files by ``customer/name``."""
    site = make_site(tmp_path, "reference")
    add = kenshin(site, "devices", "add", "--customer", "C-001", "--file", str(devices))
    assert add.exit_code == 0
    for run, arrived in runs(arrivals):
        today = datetime.fromtimestamp(run, TOKYO).date()  # and the 3 days before: due
        first, last = today - timedelta(days=3), today
        with closing(open_app(site / "kenshin.toml")) as app:
            app.ingest().ingest(
                Incoming(f"iot:{device_of(line)}", line.encode(), a, "readings", device_of(line))
                for a, line in arrived
            )
        with patch.context() as clock:  # the export's "now"
            fixed = SimpleNamespace(time=lambda run=run: run)
            clock.setattr("kenshin.entrypoints.cli.data.time", fixed)
            done = kenshin(site, "export", "--all", "--from", str(first), "--to", str(last))
        assert done.exit_code == 0, done.output
    outbox = site / "outbox"
    return {
        str(path.relative_to(outbox)): path.read_bytes()
        for path in sorted(outbox.rglob("*"))
        if path.is_file()
    }


def test_the_functions_files_in_s3_are_kenshin_exports_byte_for_byte(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: Aws,
    cold: runtime.ColdStart,
    fleet: tuple[Path, list[tuple[int, str]]],
    store_env: dict[str, str],
) -> None:
    devices, arrivals = fleet
    expected = reference(tmp_path, devices, arrivals, monkeypatch)
    site = lambda_site(tmp_path, monkeypatch, store_env)
    add = kenshin(site, "devices", "add", "--customer", "C-001", "--file", str(devices))
    assert add.exit_code == 0
    for run, arrived in runs(arrivals):
        bodies = [iot_body(device_of(line), line.encode(), a) for a, line in arrived]
        for start in range(0, len(bodies), QUEUED):
            aws.send(bodies[start : start + QUEUED])
            assert aws.drain(ingest.handler, batch_size=10) == []
        monkeypatch.setattr(runtime, "clock", lambda run=run: run)
        done = export.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
        assert done["failures"] == {}
    files = aws.objects()
    assert sorted(files) == sorted(expected)
    assert files == expected
    names = list(files)
    assert any(n.endswith(".csv") for n in names)
    assert any(n.endswith(MANIFEST_SUFFIX) for n in names)
    assert any(n.endswith(CHANGES_SUFFIX) for n in names)
