"""The load generator of bench_million.py: concentrators that each publish a readings
message of all their meters over mutual TLS, in worker processes.

Each worker connects its share of the units (``endpoint_load``'s connection, a
hundred handshakes at a time). Then, round by round, it builds every unit's PUBLISH,
waits for the other workers, has every unit send its message at once and waits for
every PUBACK. For each round it reports when its first PUBLISH went out and its last
PUBACK came in (``time.monotonic``, one clock for every process of the machine), how
many PUBACKs it got, and the CPU time it used.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from endpoint_load import Job, connect_all, count_pubacks, publish_packet

from kenshin.entrypoints.mqtt.tls import TlsStream

PUBACK_WAIT_S = 600.0  # the longest a unit waits for its PUBACK before giving up


@dataclass
class Units:
    """One worker's units: unit ``devices[i]`` reports meters ``meters[i]``; in each
    round, their forward registers ``registers[i]`` read at ``at`` (ISO 8601 UTC)."""

    port: int
    certs: Path
    devices: list[str]
    meters: list[list[str]]
    rounds: list[Round]


@dataclass
class Round:
    """One message of each unit: the registers of its meters at ``at``."""

    at: str
    registers: list[list[int]]


@dataclass(frozen=True)
class Report:
    """What one worker measured in one round."""

    units: int
    acked: int
    first_publish: float  # time.monotonic()
    last_puback: float
    cpu_s: float  # from the round's start on
    connect_s: float  # connecting its units, before the first round


def payload(device: str, meters: list[str], registers: list[int], at: str) -> bytes:
    """A readings message (JSON v1) of one unit: every meter's register at ``at``."""
    body = ",".join(
        f'{{"meter":"{m}","unit":"0.1kWh","coefficient":1,"digits":6,'
        f'"readings":[{{"t":"{at}","fwd":{r}}}]}}'
        for m, r in zip(meters, registers, strict=True)
    )
    return f'{{"v":1,"device":"{device}","seq":1,"sent":"{at}","meters":[{body}]}}'.encode()


async def publish_rounds(units: Units, barrier: Barrier) -> list[Report]:
    """Connect the units; then in each round, once every worker is ready, each unit
    publishes its message; wait for every PUBACK."""
    started = time.monotonic()
    streams = await connect_all(Job("once", units.port, units.certs, units.devices, 0))
    connect_s = time.monotonic() - started
    reports = []
    for number, round_ in enumerate(units.rounds, start=1):
        packets = [
            publish_packet(d, payload(d, m, r, round_.at), number)
            for d, m, r in zip(units.devices, units.meters, round_.registers, strict=True)
        ]
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
        cpu = time.process_time()
        first, acked = await publish(streams, packets)
        reports.append(
            Report(
                len(streams), acked, first, time.monotonic(), time.process_time() - cpu, connect_s
            )
        )
    for stream in streams:
        stream.close()
    return reports


async def publish(streams: list[TlsStream], packets: list[bytes]) -> tuple[float, int]:
    """Each stream sends its packet; when the first went, and how many PUBACKs came."""
    first = time.monotonic()
    for stream, packet in zip(streams, packets, strict=True):
        stream.write(packet)
    acked = 0

    async def acknowledged(stream: TlsStream) -> None:
        nonlocal acked
        buffer = bytearray()
        while True:
            data = await stream.read(PUBACK_WAIT_S)
            if not data:
                raise ConnectionError("closed by the server before its PUBACK")
            if count_pubacks(buffer, data):
                break
        acked += 1

    await asyncio.gather(*(acknowledged(s) for s in streams))
    return first, acked


def work(units: Units, barrier: Barrier, results: Queue[list[Report]]) -> None:
    """A worker process: run ``publish_rounds``; put its reports on ``results``."""
    results.put(asyncio.run(publish_rounds(units, barrier)))


def run(
    parts: list[Units], cpu_of_server: Callable[[], float], on_start: Callable[[int], None]
) -> tuple[list[list[Report]], list[float]]:
    """Run a worker per part; each round starts once every worker is ready (``on_start``
    is called with its number then). The reports of each round, and the server's CPU
    seconds in each: from its start to the next one's, or to the last report."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(parts) + 1)
    results: Queue[list[Report]] = ctx.Queue()
    processes = [ctx.Process(target=work, args=(part, barrier, results)) for part in parts]
    for process in processes:
        process.start()
    marks = []
    for number in range(1, len(parts[0].rounds) + 1):
        barrier.wait(timeout=PUBACK_WAIT_S)
        marks.append(cpu_of_server())
        on_start(number)
    reports: list[list[Report]] = []
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode for p in processes):
                raise RuntimeError("a load generator process failed") from None
    marks.append(cpu_of_server())
    for process in processes:
        process.join()
    by_round = [list(round_) for round_ in zip(*reports, strict=True)]
    return by_round, [b - a for a, b in pairwise(marks)]
