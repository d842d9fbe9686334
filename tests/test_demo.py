"""``kenshin demo``: a live server, a fleet publishing to it, files equal to the truth."""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from kenshin.domain.spread import FULL_SPREAD_S, report_offset_s
from kenshin.entrypoints.cli import cli

pytestmark = pytest.mark.integration


def test_the_demo_serves_a_fleet_and_every_slot_equals_the_truth(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--devices", "20", "--days", "1", "--dir", str(folder)]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    messages = int(re.findall(r"faults .*: (\d+) messages", out)[0])
    assert f"registered 20 units of DEMO; certificates in {folder / 'certs'}" in out
    assert f": {messages} of {messages} messages acknowledged over " in out
    # The ``future`` fault's readings are quarantined, each message kept as a dead letter.
    letters = int(re.findall(r"the server kept (\d+) dead letters", out)[0])
    assert "; 0 messages not acknowledged\n" in out
    assert 1 <= letters <= 2
    day = datetime.now(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=1)
    csv = folder / "outbox" / "DEMO" / f"DEMO_{day:%Y%m%d}.csv"
    assert f"wrote {csv}" in out
    meters = len((folder / "fleet.devices.csv").read_text().splitlines()) - 1
    assert csv.read_bytes().count(b"\r\n") == 1 + 2 * meters  # a fwd and a rev row each
    truth_slots = len((folder / "fleet.truth.csv").read_text().splitlines()) - 1
    found = re.findall(
        r"checked \d+ slots in \d+ files .*: (\d+) exact, (\d+) estimated, 0 different, 0 of",
        out,
    )
    exact, estimated = map(int, found[0])
    assert exact + estimated == 2 * truth_slots
    assert estimated <= 4 * letters  # two slots of each direction at each quarantined reading
    assert f"the CSV files are in {folder / 'outbox' / 'DEMO'}" in out
    shown = out.split(f"files in {folder / 'outbox' / 'DEMO'}:\n", 1)[1].split("\nchecked", 1)[0]
    files = sorted(p.name for p in (folder / "outbox" / "DEMO").glob("*.csv"))
    assert [line.split()[0] for line in shown.splitlines()] == files
    assert f"  {csv.name}  revision " in shown
    for record in (name for name in files if name.endswith(".changes.csv")):
        assert f"  {record}  change record: " in shown
    assert sorted(p.name for p in (folder / "certs").glob("*.key"))[:2] == [
        "U-000001.key",
        "U-000002.key",
    ]
    port = int(re.findall(r"serving: MQTT over TLS on 127\.0\.0\.1 port (\d+)", out)[0])
    with pytest.raises(ConnectionRefusedError):  # the server stopped with the demo
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    _units_sent_at_their_offsets(folder, out)


def _units_sent_at_their_offsets(folder: Path, out: str) -> None:
    """The demo's units are spread over the half hour as the server tells them: each sent
    at the offset its CONNACK gave, and the demo checked every one."""
    assert "each unit sends at its own offset within 1800 s of :00 and :30, as the" in out
    assert "\n20 units sent at the reporting offsets the server's CONNACK told them\n" in out
    lines = (folder / "fleet.jsonl").read_text().splitlines()
    at_offset, minutes = 0, set()
    for message in map(json.loads, lines):
        past = int(datetime.fromisoformat(message["sent"]).timestamp()) % FULL_SPREAD_S
        at_offset += 0 <= past - report_offset_s(message["device"]) < 5  # 0-4 s of jitter
        minutes.add(past // 60)
    # The others: faults (a unit's clock off, a message resent an hour later or held back).
    assert at_offset >= 0.8 * len(lines)
    assert len(minutes) >= 10  # over the half hour, not all at :00 and :30


def test_the_demo_refuses_a_folder_used_before(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "kenshin.toml").write_text("")
    result = CliRunner().invoke(cli, ["demo", "--devices", "2", "--dir", str(folder)])
    assert result.exit_code == 1
    assert "kenshin.toml exists already" in result.output
