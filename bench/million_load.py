"""The load generator of bench_million.py: concentrators that each publish one readings
message of all their meters over mutual TLS, in worker processes.

Each worker connects its share of the units (``endpoint_load``'s connection, a
hundred handshakes at a time), builds every unit's PUBLISH, waits for the other
workers, then has every unit send its one message at once and waits for every
PUBACK. It reports when its first PUBLISH went out and its last PUBACK came in
(``time.monotonic``, one clock for every process of the machine), how many PUBACKs
it got, and the CPU time it used from the start on.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from endpoint_load import Job, connect_all, count_pubacks, publish_packet

from kenshin.entrypoints.mqtt.tls import TlsStream

PUBACK_WAIT_S = 600.0  # the longest a unit waits for its PUBACK before giving up


@dataclass
class Units:
    """One worker's units: unit ``devices[i]`` reports meters ``meters[i]`` with
    forward registers ``registers[i]``, all read at ``at`` (ISO 8601 UTC)."""

    port: int
    certs: Path
    devices: list[str]
    meters: list[list[str]]
    registers: list[list[int]]
    at: str


@dataclass(frozen=True)
class Report:
    """What one worker measured."""

    units: int
    acked: int
    first_publish: float  # time.monotonic()
    last_puback: float
    cpu_s: float  # from the start on
    connect_s: float  # connecting its units, before the start


def payload(device: str, meters: list[str], registers: list[int], at: str) -> bytes:
    """A readings message (JSON v1) of one unit: every meter's register at ``at``."""
    body = ",".join(
        f'{{"meter":"{m}","unit":"0.1kWh","coefficient":1,"digits":6,'
        f'"readings":[{{"t":"{at}","fwd":{r}}}]}}'
        for m, r in zip(meters, registers, strict=True)
    )
    return f'{{"v":1,"device":"{device}","seq":1,"sent":"{at}","meters":[{body}]}}'.encode()


async def publish_once(units: Units, barrier: Barrier) -> Report:
    """Connect the units, then each publishes its message once; wait for every PUBACK."""
    started = time.monotonic()
    streams = await connect_all(Job("once", units.port, units.certs, units.devices, 0))
    connect_s = time.monotonic() - started
    packets = [
        publish_packet(d, payload(d, m, r, units.at), 1)
        for d, m, r in zip(units.devices, units.meters, units.registers, strict=True)
    ]
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    cpu = time.process_time()
    first = time.monotonic()
    for stream, packet in zip(streams, packets, strict=True):
        stream.write(packet)
    last, acked = first, 0

    async def acknowledged(stream: TlsStream) -> None:
        nonlocal last, acked
        buffer = bytearray()
        while True:
            data = await stream.read(PUBACK_WAIT_S)
            if not data:
                raise ConnectionError("closed by the server before its PUBACK")
            if count_pubacks(buffer, data):
                break
        last, acked = max(last, time.monotonic()), acked + 1

    await asyncio.gather(*(acknowledged(s) for s in streams))
    for stream in streams:
        stream.close()
    return Report(len(streams), acked, first, last, time.process_time() - cpu, connect_s)


def work(units: Units, barrier: Barrier, results: Queue[Report]) -> None:
    """A worker process: run ``publish_once``; put its report on ``results``."""
    results.put(asyncio.run(publish_once(units, barrier)))


def run(
    parts: list[Units], cpu_of_server: Callable[[], float], on_start: Callable[[], None]
) -> tuple[list[Report], float]:
    """Run a worker per part, started together once all are connected (``on_start`` is
    called then); the workers' reports and the server's CPU seconds from the start to
    the last report."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(parts) + 1)
    results: Queue[Report] = ctx.Queue()
    processes = [ctx.Process(target=work, args=(part, barrier, results)) for part in parts]
    for process in processes:
        process.start()
    barrier.wait(timeout=PUBACK_WAIT_S)
    server_cpu = cpu_of_server()
    on_start()
    reports: list[Report] = []
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode for p in processes):
                raise RuntimeError("a load generator process failed") from None
    server_cpu = cpu_of_server() - server_cpu
    for process in processes:
        process.join()
    return reports, server_cpu
