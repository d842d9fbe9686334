"""The load of bench_cluster.py: a site whose units have certificates, a simulated
fleet's messages, each unit publishing its own in order over its own TLS connection,
from a few processes.

Each process reads the messages file, keeps its units' messages as QoS 1 PUBLISH packets
(made before the start, so that a message costs the publisher little more than its TLS
record) and connects its units (``endpoint_load``: asyncio on kenshin's ``TlsStream``).
Every unit first publishes its ``warmup`` first messages (so that the store and the
processes know every unit and meter before the start, as in a running system); at the
start it publishes the rest, ``window`` unacknowledged at a time, then disconnects. A
process reports the PUBACKs it counted after the start, the CPU time it used from the
start, and when it had the last PUBACK.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import pwd
import queue
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from bench_endpoint import free_port, shares
from endpoint_load import Job, connect_all, count_pubacks, publish_packet, read

from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.adapters.pki_files import write_device_files
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Device
from kenshin.entrypoints.mqtt.codec import Disconnect, encode
from kenshin.entrypoints.mqtt.tls import TlsStream
from kenshin.ports import Store
from kenshin.sim.files import write_simulation
from kenshin.sim.fleet import FleetSpec

DISCONNECT = encode(Disconnect(), 4)
BARRIER_S = 600.0  # connecting every unit may take a while on a busy machine


@dataclass
class Share:
    """One process's part of the load: ``devices`` publishing to ``port``."""

    port: int
    certs: Path
    messages: Path
    devices: list[str]
    window: int
    warmup: int  # each unit's first messages, published before the start


def device_of(line: bytes) -> str:
    """The unit of a message line of the simulation (compact JSON, device second)."""
    start = line.index(b'"device":"') + 10
    return line[start : line.index(b'"', start)].decode()


def packets_of(messages: Path, devices: list[str]) -> dict[str, list[bytes]]:
    """The PUBLISH packets of ``devices``' messages, each unit's in order."""
    packets: dict[str, list[bytes]] = {device: [] for device in devices}
    with messages.open("rb") as lines:
        for line in lines:
            mine = packets.get(device_of(line))
            if mine is not None:
                payload = line.rstrip(b"\n")
                mine.append(publish_packet(device_of(line), payload, len(mine) % 65535 + 1))
    return packets


async def drive(stream: TlsStream, packets: list[bytes], window: int) -> int:
    """Publish ``packets`` on ``stream`` with ``window`` unacknowledged; PUBACKs counted."""
    sent = min(window, len(packets))
    stream.write(b"".join(packets[:sent]))
    acked, buffer = 0, bytearray()
    while acked < len(packets):
        n = count_pubacks(buffer, await read(stream))
        acked += n
        if sent < len(packets):
            stream.write(b"".join(packets[sent : sent + n]))
            sent = min(len(packets), sent + n)
    return acked


async def wait_at(barrier: Barrier) -> None:
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait, BARRIER_S)


async def publish_share(share: Share, barriers: list[Barrier]) -> Result:
    """Connect the share's units, publish the warm-up, wait for the start, publish the
    rest: (PUBACKs after the start, CPU s from the start, done at)."""
    connected, warmed, go = barriers
    packets = packets_of(share.messages, share.devices)
    streams = await connect_all(Job("day", share.port, share.certs, share.devices, 0))
    pairs = list(zip(share.devices, streams, strict=True))
    await wait_at(connected)
    await asyncio.gather(*(drive(s, packets[d][: share.warmup], share.window) for d, s in pairs))
    await wait_at(warmed)
    await wait_at(go)
    cpu = time.process_time()
    counts = await asyncio.gather(
        *(drive(s, packets[d][share.warmup :], share.window) for d, s in pairs)
    )
    done_at = time.monotonic()  # system-wide: comparable with the benchmark's
    for stream in streams:
        stream.write(DISCONNECT)
        stream.close()
    return sum(counts), time.process_time() - cpu, done_at


Result = tuple[int, float, float]  # PUBACKs, CPU seconds, done at


def work(share: Share, barriers: list[Barrier], results: Queue[Result]) -> None:
    """A publisher process."""
    results.put(asyncio.run(publish_share(share, barriers)))


class Publisher:
    """The publisher's processes, started at once; each connects its units and waits."""

    def __init__(self, shares: list[Share]) -> None:
        ctx = mp.get_context("spawn")
        self._barriers = [ctx.Barrier(len(shares) + 1) for _ in range(3)]
        self._results: Queue[Result] = ctx.Queue()
        self._result: Result | None = None
        self._processes = [
            ctx.Process(target=work, args=(share, self._barriers, self._results))
            for share in shares
        ]
        for process in self._processes:
            process.start()

    @property
    def pids(self) -> list[int]:
        """The processes' ids."""
        return [p.pid for p in self._processes if p.pid is not None]

    def connected(self) -> None:
        """Return once every unit is connected; they then publish the warm-up."""
        self._barriers[0].wait(BARRIER_S)

    def warmed(self) -> None:
        """Return once every process has had the warm-up's PUBACKs."""
        self._barriers[1].wait(BARRIER_S)

    def go(self) -> float:
        """Start publishing the rest; when it started (monotonic)."""
        self._barriers[2].wait(BARRIER_S)
        return time.monotonic()

    def wait(self) -> Result:
        """Wait for every process: (PUBACKs, CPU seconds from the start, last done at)."""
        if self._result is not None:
            return self._result
        acked, cpu, done_at, got = 0, 0.0, 0.0, 0
        while got < len(self._processes):
            try:
                n, used, at = self._results.get(timeout=1)
            except queue.Empty:
                if any(p.exitcode for p in self._processes):
                    raise RuntimeError("a publisher process failed") from None
                continue
            got += 1
            acked, cpu, done_at = acked + n, cpu + used, max(done_at, at)
        for process in self._processes:
            process.join()
        self._result = acked, cpu, done_at
        return self._result

    def stop(self) -> None:
        """End the processes still running (after a failure)."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join()


@dataclass
class Site:
    """The data folder, its units and their certificates, the simulated load."""

    folder: Path
    serials: dict[str, tuple[int, int]]
    messages: Path
    readings: int  # in every message
    messages_count: int
    warmup: int  # each unit's first messages, published before the start
    warm_messages: int
    warm_readings: int
    broker_port: int
    args: argparse.Namespace

    def shares(self, port: int) -> list[Share]:
        """The load, dealt to the publisher's processes, for the endpoint at ``port``."""
        units = list(self.serials)
        certs = self.folder / "certs"
        return [
            Share(port, certs, self.messages, part, self.args.window, self.warmup)
            for part in shares(units, self.args.clients)
        ]

    def command(self, *args: str) -> list[str]:
        """A kenshin command line on the site."""
        config = str(self.folder / "kenshin.toml")
        return [sys.executable, "-m", "kenshin", "--config", config, *args]


def make_site(folder: Path, args: argparse.Namespace) -> Site:
    """A data folder (SQLite store, customer C-1, the units with certificates in
    folder/certs), the simulated fleet's messages, the broker's files in folder/broker."""
    init_project(folder)
    days = args.days + args.warmup_days
    spec = FleetSpec(args.units, days, date.today() - timedelta(days=days), seed=1)
    summary = write_simulation(spec, folder / "fleet.jsonl")
    authority = LocalCertificateAuthority.load(folder / "pki")
    (folder / "certs").mkdir()
    authority.export_cert(folder / "certs")
    serials = {}
    for line in summary.devices_path.read_text().splitlines()[1:]:
        device = line.split(",")[0]
        if device not in serials:
            credentials = authority.issue_device(device)
            serials[device] = (credentials.serial, credentials.not_after)
            write_device_files(folder / "certs", device, credentials)
    warmup = 48 * args.warmup_days
    warm_messages, warm_readings = warm_part(summary.messages_path, warmup)
    site = Site(
        folder,
        serials,
        summary.messages_path,
        summary.readings,
        summary.messages,
        warmup,
        warm_messages,
        warm_readings,
        free_port(),
        args,
    )
    register(site, SqliteStore(folder / "kenshin.db"))
    shutil.copyfile(folder / "kenshin.db", folder / "kenshin.db.new")  # for each serve
    user = pwd.getpwuid(os.geteuid()).pw_name
    broker = ["broker-config", "mosquitto", "--out", str(folder / "broker")]
    broker += ["--port", str(site.broker_port), "--user", user]
    subprocess.run(site.command(*broker), check=True, capture_output=True)
    return site


def warm_part(messages: Path, warmup: int) -> tuple[int, int]:
    """The messages and readings of each unit's first ``warmup`` messages."""
    seen: dict[str, int] = {}
    count = readings = 0
    with messages.open("rb") as lines:
        for line in lines:
            message = json.loads(line)
            n = seen[message["device"]] = seen.get(message["device"], 0) + 1
            if n <= warmup:
                count += 1
                readings += sum(len(meter["readings"]) for meter in message["meters"])
    return count, readings


def register(site: Site, store: Store) -> None:
    """Customer C-1 and every unit with its certificate, in ``store``."""
    try:
        store.registry.add_customer(Customer("C-1", "Bench"))
        for device, (serial, not_after) in site.serials.items():
            store.registry.add_device(Device(device, "C-1"))
            store.certificates.add_certificate(device, serial, not_after, 0)
    finally:
        store.close()
