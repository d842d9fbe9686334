"""The load generator of bench_endpoint.py: units over mutual TLS, in worker processes.

Each worker process runs an asyncio loop of its own and drives its share of the
units on kenshin's ``TlsStream`` (OpenSSL reading and writing the sockets) with
PUBLISH bytes built from a template, so that a message costs the generator
little more than its TLS record. A worker reports what it counted and the CPU
time it used, so the figures say how the cores were shared.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from kenshin.entrypoints.mqtt.codec import Connect, Disconnect, Subscribe, Subscription, encode
from kenshin.entrypoints.mqtt.tls import TlsStream

LEVEL = 4
START = (int(time.time()) - 200 * 86_400) // 1800 * 1800  # readings of the past 200 days
_TIMES: list[str] = []
_DISCONNECT = encode(Disconnect(), LEVEL)
_cpu_at_start = [0.0]


def reading_time(k: int) -> str:
    """The time of reading number ``k`` (half hours from START), as the wire has it."""
    while len(_TIMES) <= k:
        _TIMES.append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + 1800 * len(_TIMES))))
    return _TIMES[k]


def payload(device: str, k: int) -> bytes:
    """Reading number ``k`` of a unit: one half hour after the one before."""
    t = reading_time(k)
    return (
        f'{{"v":1,"device":"{device}","seq":{k},"sent":"{t}","meters":[{{"meter":"M-{device}",'
        f'"unit":"0.1kWh","coefficient":1,"digits":6,'
        f'"readings":[{{"t":"{t}","fwd":{1000 + k}}}]}}]}}'
    ).encode()


def publish(device: str, k: int, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH of reading ``k`` to the unit's readings topic."""
    return publish_packet(device, payload(device, k), packet_id)


def publish_packet(device: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH of ``payload`` to the unit's readings topic (MQTT 3.1.1)."""
    topic = f"dt/kenshin/{device}/readings".encode()
    body = len(topic).to_bytes(2, "big") + topic + packet_id.to_bytes(2, "big") + payload
    n, length = len(body), bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        length.append(byte | 0x80 if n else byte)
        if not n:
            return b"\x32" + bytes(length) + body


def count_pubacks(buffer: bytearray, data: bytes) -> int:
    """Append ``data``; remove and count the whole PUBACKs at the front (all it gets)."""
    buffer += data
    whole = len(buffer) // 4 * 4
    if buffer[:whole].count(b"\x40\x02") * 4 != whole:
        raise RuntimeError(f"not a PUBACK: {bytes(buffer[:8])!r}")
    del buffer[:whole]
    return whole // 4


@dataclass
class Job:
    """What one worker does: ``phase`` against ``port`` for ``devices``."""

    phase: str  # "idle", "sustained", "cycles", "resumed" or "subscriber"
    port: int
    certs: Path
    devices: list[str]
    seconds: float
    window: int = 4
    concurrency: int = 16


def context(certs: Path, device: str) -> ssl.SSLContext:
    """The TLS client context of a unit."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.load_cert_chain(certs / f"{device}.pem", certs / f"{device}.key")
    return ctx


async def connect(
    job: Job, device: str, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> TlsStream:
    """A unit connected over TLS, CONNECT sent and CONNACK read."""
    loop = asyncio.get_running_loop()
    raw = socket.socket()
    raw.setblocking(False)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await loop.sock_connect(raw, ("127.0.0.1", job.port))
    tls = ctx.wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False, session=session
    )
    stream = TlsStream(tls, device)
    await stream.handshake(30)
    stream.write(encode(Connect(LEVEL, device, keep_alive=120), LEVEL))
    ack = await stream.read(30)
    if ack[:1] != b"\x20" or ack[3:4] != b"\x00":
        raise RuntimeError(f"{device}: refused: {ack!r}")
    return stream


async def read(stream: TlsStream) -> bytes:
    """What came next; ConnectionError if the server closed the connection."""
    data = await stream.read(30)
    if not data:
        raise ConnectionError(f"{stream.address}: closed by the server")
    return data


async def connect_all(job: Job) -> list[TlsStream]:
    """Every unit of the job connected, a hundred at a time."""
    streams: list[TlsStream] = []
    for lo in range(0, len(job.devices), 100):
        devices = job.devices[lo : lo + 100]
        streams += await asyncio.gather(*(connect(job, d, context(job.certs, d)) for d in devices))
    return streams


async def start_together(barrier: Barrier) -> None:
    """Wait for the other workers and the benchmark; from now on CPU time counts."""
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    _cpu_at_start[0] = time.process_time()


async def idle(job: Job, barrier: Barrier) -> int:
    """Units connected and quiet while the benchmark reads the server's memory."""
    streams = await connect_all(job)
    await start_together(barrier)
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)  # it has read it
    for stream in streams:
        stream.write(_DISCONNECT)
        stream.close()
    return len(streams)


async def sustained(job: Job, barrier: Barrier) -> int:
    """PUBACKs counted in ``job.seconds``, each unit keeping ``window`` PUBLISHes in flight."""
    streams = await connect_all(job)
    await start_together(barrier)
    stop_at = time.monotonic() + job.seconds
    acked = 0

    async def drive(device: str, stream: TlsStream) -> None:
        nonlocal acked
        k, buffer = 0, bytearray()
        stream.write(b"".join(publish(device, k + i, k + i + 1) for i in range(job.window)))
        k += job.window
        while time.monotonic() < stop_at:
            n = count_pubacks(buffer, await read(stream))
            acked += n
            stream.write(b"".join(publish(device, k + i, (k + i) % 65535 + 1) for i in range(n)))
            k += n

    await asyncio.gather(*(drive(d, s) for d, s in zip(job.devices, streams, strict=True)))
    for stream in streams:
        stream.write(_DISCONNECT)
        stream.close()
    return acked


async def cycles(job: Job, barrier: Barrier, *, resume: bool) -> int:
    """Complete connect-publish-PUBACK-disconnect cycles in ``job.seconds``."""
    contexts = {d: context(job.certs, d) for d in job.devices}
    sessions: dict[str, ssl.SSLSession | None] = dict.fromkeys(job.devices)
    await start_together(barrier)
    stop_at = time.monotonic() + job.seconds
    done = 0
    # Each unit's next reading, after those of the sustained load: a reading of the past,
    # which the server stores (a future one would be quarantined as a dead letter).
    readings = dict.fromkeys(job.devices, 5000)

    async def worker(n: int) -> None:
        nonlocal done
        k = 0
        while time.monotonic() < stop_at:
            device = job.devices[(n + k * job.concurrency) % len(job.devices)]
            k += 1
            stream = await connect(job, device, contexts[device], sessions[device])
            if resume:
                sessions[device] = stream.tls_session()
            readings[device] += 1
            stream.write(publish(device, readings[device], 1))
            while count_pubacks(bytearray(), await read(stream)) == 0:
                pass
            stream.write(_DISCONNECT)
            stream.close()
            await stream.wait_closed()
            done += 1

    await asyncio.gather(*(worker(n) for n in range(job.concurrency)))
    return done


async def subscriber(job: Job, barrier: Barrier) -> int:
    """A subscriber to every unit's readings at QoS 1 that acknowledges and drops them."""
    stream = await connect(job, job.devices[0], context(job.certs, job.devices[0]))
    stream.write(encode(Subscribe(1, (Subscription("dt/#", 1),)), LEVEL))
    await start_together(barrier)
    stop_at, buffer, got = time.monotonic() + job.seconds + 5, bytearray(), 0
    while time.monotonic() < stop_at:
        try:
            buffer += await stream.read(1)
        except TimeoutError:
            continue
        acks, start = [], 0
        while len(buffer) - start >= 2:  # PUBLISH QoS 1 (0x32) or the SUBACK (0x90)
            n, shift, i = 0, 0, start + 1
            while buffer[i] & 0x80 and i < len(buffer) - 1:
                n, shift, i = n | (buffer[i] & 0x7F) << shift, shift + 7, i + 1
            n |= (buffer[i] & 0x7F) << shift
            end = i + 1 + n
            if end > len(buffer) or buffer[i] & 0x80:
                break
            if buffer[start] & 0xF0 == 0x30:
                topic_end = i + 3 + int.from_bytes(buffer[i + 1 : i + 3], "big")
                acks.append(b"\x40\x02" + bytes(buffer[topic_end : topic_end + 2]))
                got += 1
            start = end
        del buffer[:start]
        stream.write(b"".join(acks))
    return got


def work(job: Job, barrier: Barrier, results: Queue[tuple[str, int, float]]) -> None:
    """A worker process: run ``job``; put (count, CPU seconds) on ``results``."""
    phases: dict[str, Callable[[], Any]] = {
        "idle": lambda: idle(job, barrier),
        "sustained": lambda: sustained(job, barrier),
        "cycles": lambda: cycles(job, barrier, resume=False),
        "resumed": lambda: cycles(job, barrier, resume=True),
        "subscriber": lambda: subscriber(job, barrier),
    }
    count = asyncio.run(phases[job.phase]())
    results.put((job.phase, count, time.process_time() - _cpu_at_start[0]))


def run(
    jobs: list[Job], cpu_of_server: Callable[[], float], during: Callable[[Barrier], None]
) -> tuple[dict[str, int], float, float]:
    """Run ``jobs`` in a process each, started together, and ``during`` once they have;
    (count by phase, CPU seconds of the server and of the generator from the start)."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs) + 1)
    results: Queue[tuple[str, int, float]] = ctx.Queue()
    processes = [ctx.Process(target=work, args=(job, barrier, results)) for job in jobs]
    for process in processes:
        process.start()
    barrier.wait()
    server_cpu = cpu_of_server()
    during(barrier)
    counts: dict[str, int] = {}
    generator_cpu = 0.0
    done: list[str] = []
    while len(done) < len(processes):
        try:
            phase, count, cpu = results.get(timeout=1)
        except queue.Empty:
            if any(p.exitcode for p in processes):
                raise RuntimeError("a load generator process failed") from None
            continue
        done.append(phase)
        counts[phase] = counts.get(phase, 0) + count
        generator_cpu += cpu
    server_cpu = cpu_of_server() - server_cpu
    for process in processes:
        process.join()
    return counts, server_cpu, generator_cpu
