"""The fleet simulator publishing live to a running server, and the wakes it plans."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, TypeVar
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from conftest import kenshin, make_site
from kenshin.adapters.outbox import LocalOutbox
from kenshin.bootstrap import open_app
from kenshin.domain.model import Customer
from kenshin.entrypoints.cli import cli
from kenshin.entrypoints.serve import serve
from kenshin.errors import WakeFailed
from kenshin.sim import publish as publisher
from kenshin.sim.faults import FAULTS
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.publish import Replay
from kenshin.sim.transmission import fleet_messages
from kenshin.sim.verify import load_truth, verify_files
from kenshin.sim.wakes import message_time, next_wake, plan_wakes

T = TypeVar("T")
TOKYO = ZoneInfo("Asia/Tokyo")
DAY = datetime.now(TOKYO).date() - timedelta(days=2)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def message(device: str, t: str, sent: str | None = None) -> dict[str, object]:
    return {
        "v": 1,
        "device": device,
        "seq": 1,
        "sent": sent or t,
        "meters": [{"meter": f"M-{device}", "readings": [{"t": t, "fwd": 1, "rev": 0}]}],
    }


# planning wakes, no network


def test_a_message_is_due_at_its_latest_reading_else_when_sent() -> None:
    backlog = message("U-1", "2026-11-25T10:00:00+09:00", "2026-11-25T10:00:17+09:00")
    b_readings = [{"t": "2026-11-25T09:00:00+09:00"}]
    backlog["meters"] = [
        {"meter": "A", "readings": [{"t": "2026-11-25T09:30:00+09:00"}]},
        {"meter": "B", "readings": b_readings},
        {"meter": "C", "readings": []},
    ]
    assert message_time(backlog) == at("2026-11-25T09:30:00+09:00")
    no_readings = {"device": "U-1", "sent": "2026-11-25T10:00:17+09:00", "meters": []}
    assert message_time(no_readings) == at("2026-11-25T10:00:17+09:00")
    # A reading dated far ahead (a unit's clock gone wrong) does not hold the message back.
    b_readings.append({"t": "2027-12-30T09:00:00+09:00"})
    assert message_time(backlog) == at("2026-11-25T09:30:00+09:00")


@given(st.text(min_size=1, max_size=12), st.integers(0, 2**34), st.integers(1, 86_400))
def test_a_unit_wakes_every_interval_at_a_phase_of_its_own(device: str, t: int, wake: int) -> None:
    woken = next_wake(device, t, wake)
    assert t <= woken < t + wake
    assert (woken - zlib.crc32(device.encode())) % wake == 0


def test_wakes_group_each_units_messages_due_since_its_last_wake() -> None:
    phase = {d: zlib.crc32(d.encode()) % 3600 for d in ("U-1", "U-2")}
    base = at("2026-11-25T00:00:00+00:00")  # a multiple of an hour
    times = [base + 1800 * k for k in range(5)]
    stream = [
        message(d, datetime.fromtimestamp(t, TOKYO).isoformat()) for t in times for d in phase
    ]
    wakes = list(plan_wakes(stream, 3600))
    for device, p in phase.items():
        mine = [w for w in wakes if w.device == device]
        expected: dict[int, list[int]] = {}
        for t in times:
            expected.setdefault(t + (p - t) % 3600, []).append(t)
        assert [(w.at, [message_time(m) for m in w.messages]) for w in mine] == sorted(
            expected.items()
        )
    assert [w.at for w in wakes] == sorted(w.at for w in wakes)


def test_every_message_of_a_faulty_fleet_goes_once_at_the_first_wake_after_it_arrived() -> None:
    spec = FleetSpec(12, 2, DAY, "Asia/Tokyo", 5, frozenset(FAULTS))
    stream = list(fleet_messages(spec))
    wake_s = 4 * 3600
    wakes = list(plan_wakes(stream, wake_s))
    assert [w.at for w in wakes] == sorted(w.at for w in wakes)
    arrived, clock = [], 0
    for m in stream:  # a held-back message arrives after the ones before it
        clock = max(clock, message_time(m) or 0)
        arrived.append(clock)
    for device in {str(m["device"]) for m in stream}:
        sent = [(w.at, m) for w in wakes if w.device == device for m in w.messages]
        mine = [(t, m) for t, m in zip(arrived, stream, strict=True) if m["device"] == device]
        assert [m for _, m in sent] == [m for _, m in mine]  # duplicates and shuffles too
        assert all(0 <= woken - t < wake_s for (woken, _), (t, _) in zip(sent, mine, strict=True))
        ats = [w.at for w in wakes if w.device == device]
        assert ats == sorted(set(ats))  # one wake at a time


class FlakyUnit:
    """Stands in for a unit's connection: U-1's first wake cannot connect, and its third
    gets no PUBACK for its first message; U-2 never connects."""

    wakes: ClassVar[list[tuple[str, list[int]]]] = []

    def __init__(self, device: str, tls: object) -> None:
        self.device, self.tls, self.published, self.connected = device, tls, 0, 0
        self.stalled = "no answer in 10 s"
        self.offset_s: int | None = None

    def probe(self) -> None:
        return None

    def publish(self, payloads: list[str]) -> list[int]:
        FlakyUnit.wakes.append((self.device, [json.loads(p)["seq"] for p in payloads]))
        mine = sum(1 for device, _ in FlakyUnit.wakes if device == self.device)
        if self.device == "U-2" or mine == 1:
            raise WakeFailed("cannot reach the endpoint")
        self.published, self.connected = len(payloads), 1
        return [0] if mine == 3 else []


class FlakyUnits:
    """Stands in for the units: each wake a FlakyUnit."""

    def check(self, device: str) -> None:
        return None

    def open(self, device: str, tls: object) -> FlakyUnit:
        return FlakyUnit(device, tls)


def test_a_message_not_acknowledged_goes_again_at_the_units_next_wake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher, "FINAL_RETRIES", 2)
    FlakyUnit.wakes = []
    base = at("2026-11-25T00:00:00+00:00")
    stream = []
    for k in range(5):
        t = datetime.fromtimestamp(base + 3600 * k, TOKYO).isoformat()
        for device in ("U-1", "U-2"):
            stream.append({**message(device, t), "seq": k})
    summary = publisher.publish_fleet(stream, FlakyUnits(), Replay(wake_minutes=60))
    assert [seqs for device, seqs in FlakyUnit.wakes if device == "U-1"] == [
        [0],
        [0, 1],
        [2],  # 2 is not acknowledged ...
        [2, 3],  # ... and goes again, first
        [4],
    ]
    assert [seqs for device, seqs in FlakyUnit.wakes if device == "U-2"] == [
        *([*range(k + 1)] for k in range(5)),  # each wake takes what is due and kept
        [0, 1, 2, 3, 4],  # after the last wake, FINAL_RETRIES more tries
        [0, 1, 2, 3, 4],
    ]
    assert (summary.messages, summary.acknowledged, summary.failed) == (10, 5, 5)
    assert (summary.failed_wakes, summary.connections) == (2 + 5 + 2, 5)


# publishing to a running server


def serving(site: Path, job: Callable[[int], T]) -> T:
    """``kenshin serve`` of the site on a free port of 127.0.0.1 while ``job(port)`` runs
    in another thread (the server handles the signals, so it takes this one)."""
    app = open_app(site / "kenshin.toml")
    mqtt = app.settings.mqtt.model_copy(update={"host": "127.0.0.1", "port": 0})
    ftps = app.settings.ftps.model_copy(update={"enabled": False})
    sftp = app.settings.sftp.model_copy(update={"enabled": False})
    http = app.settings.http.model_copy(update={"enabled": False})
    app.settings = app.settings.model_copy(
        update={"mqtt": mqtt, "ftps": ftps, "sftp": sftp, "http": http}
    )

    async def main() -> T:
        stop = asyncio.Event()
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(
            serve(app, on_listening=lambda found: port.set_result(found[0].port), stop=stop)
        )
        try:
            return await asyncio.to_thread(job, await asyncio.wait_for(port, 10))
        finally:
            stop.set()
            await server

    try:
        return asyncio.run(main())
    finally:
        app.close()


def simulate(site: Path, devices: int, *extra: str) -> Result:
    return kenshin(
        site,
        "simulate",
        "--devices",
        str(devices),
        "--start",
        DAY.isoformat(),
        "--faults",
        "all",
        "--seed",
        "3",
        "--out",
        str(site / "fleet.jsonl"),
        *extra,
    )


def fleet_site(tmp_path: Path, devices: int) -> Path:
    """A site with the simulated fleet's units registered, their files in site/certs."""
    site = make_site(tmp_path, "site")
    assert simulate(site, devices).exit_code == 0
    added = kenshin(
        site, "devices", "add", "--customer", "C-001", "--file", str(site / "fleet.devices.csv")
    )
    assert added.exit_code == 0
    issued = kenshin(
        site, "devices", "add", *ids(site), "--customer", "C-001", "--out", str(site / "certs")
    )
    assert issued.exit_code == 0, issued.output
    return site


def ids(site: Path) -> list[str]:
    return [line.split(",")[0] for line in (site / "fleet.devices.csv").read_text().split()[1:]]


def publish(site: Path, port: int, *extra: str) -> Result:
    certs = str(site / "certs")
    return simulate(site, 5, "--host", "127.0.0.1", "--port", str(port), "--certs", certs, *extra)


@pytest.mark.integration
def test_a_fleet_published_live_gives_files_equal_to_the_truth(tmp_path: Path) -> None:
    site = fleet_site(tmp_path, 5)
    result = serving(
        site, lambda port: publish(site, port, "--speed", "max", "--wake-minutes", "120")
    )
    assert result.exit_code == 0, result.output
    lines = (site / "fleet.jsonl").read_text().splitlines()
    assert f": {len(lines)} of {len(lines)} messages acknowledged over" in result.output
    assert "; 0 messages not acknowledged" in result.output
    exported = kenshin(site, "export", "--customer", "C-001", "--date", DAY.isoformat())
    assert exported.exit_code == 0, exported.output
    truth = load_truth(site / "fleet.truth.csv")
    check = verify_files(LocalOutbox(site / "outbox"), Customer("C-001", "Example"), truth)
    assert (check.mismatches, check.missing) == ([], 0)
    # Estimated: the slots around a reading dated in the future, quarantined.
    assert check.matched + check.estimated == len(truth) > 5 * 48


@pytest.mark.integration
def test_a_unit_that_is_refused_keeps_its_messages_and_the_others_go_on(tmp_path: Path) -> None:
    site = fleet_site(tmp_path, 5)
    assert kenshin(site, "devices", "revoke", "U-000002").exit_code == 0
    result = serving(
        site, lambda port: publish(site, port, "--speed", "0", "--wake-minutes", "240")
    )
    lines = [json.loads(line) for line in (site / "fleet.jsonl").read_text().splitlines()]
    refused = sum(1 for m in lines if m["device"] == "U-000002")
    assert result.exit_code == 1
    assert f": {len(lines) - refused} of {len(lines)} messages acknowledged" in result.output
    assert f"; {refused} messages not acknowledged" in result.output
    assert f"Error: {refused} messages were not acknowledged" in result.output


@pytest.mark.integration
def test_a_missing_certificate_file_names_the_unit_the_folder_and_the_command(
    tmp_path: Path,
) -> None:
    site = fleet_site(tmp_path, 5)
    (site / "certs" / "U-000004.key").unlink()
    result = publish(site, free_port())
    assert result.exit_code == 1
    certs = site / "certs"
    assert f"Error: U-000004.key is missing in {certs}: unit U-000004 needs" in result.output
    assert f"'kenshin devices add U-000004 --customer CUSTOMER --out {certs}'" in result.output


@pytest.mark.integration
def test_an_endpoint_that_cannot_be_reached_is_a_clear_error(tmp_path: Path) -> None:
    site = fleet_site(tmp_path, 5)
    port = free_port()
    result = publish(site, port)
    assert result.exit_code == 1
    assert f"Error: cannot reach the endpoint at 127.0.0.1 port {port}" in result.output
    assert "is 'kenshin serve' running there, on that port?" in result.output


@pytest.mark.integration
def test_units_of_another_site_are_told_which_side_refuses(tmp_path: Path) -> None:
    site = fleet_site(tmp_path, 5)
    other = fleet_site(tmp_path / "other", 5)

    def both(port: int) -> tuple[Result, Result]:
        untrusted = publish(other, port)  # its ca.pem does not trust this server
        shutil.copy(site / "certs" / "ca.pem", other / "certs" / "ca.pem")
        return untrusted, publish(other, port)  # the server does not trust its units

    untrusted, refused = serving(site, both)
    assert untrusted.exit_code == refused.exit_code == 1
    ca = other / "certs" / "ca.pem"
    assert re.search(
        rf"Error: the endpoint at 127.0.0.1 port \d+ is not one {re.escape(str(ca))} trusts"
        r" \(self-signed certificate in certificate chain\): use the ca.pem of the endpoint's",
        untrusted.output,
    ), untrusted.output
    assert re.search(
        r"Error: the endpoint at 127.0.0.1 port \d+ closed the connection of U-00000\d before"
        r" accepting it( \(.+\))?: is its certificate revoked, or issued by another data folder\?",
        refused.output,
    ), refused.output


def test_publishing_options_need_a_host(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--devices", "1", "--out", str(tmp_path / "f.jsonl"), "--certs", "c"]
    )
    assert result.exit_code == 2
    assert "--host and --certs go together" in result.output


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
