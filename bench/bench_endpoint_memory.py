"""Where the device endpoint's memory per idle connected unit goes.

Runs the endpoint in this process (a thread with its own event loop, on asyncio or
uvloop) and connects UNITS idle units to it from the load generator's worker
processes (``endpoint_load``'s idle phase, MQTT 3.1.1, keep alive 120 s). Reads,
before the units connect and once they are all connected and quiet:

- the process's resident memory, divided by UNITS; then again once glibc's malloc has
  returned the free pages of its heap to the system (malloc_trim), which tells how much
  of it was memory freed but kept;
- with ``--trace``, what Python's allocators hold (tracemalloc: the lines that
  allocated the most, and the objects by type, per unit). What the resident memory
  grew by beyond that is memory Python does not allocate: OpenSSL's connection state
  above all. tracemalloc costs memory of its own, so the resident figure of a traced
  run is larger than that of a run without it.

    python bench/bench_endpoint_memory.py [--units 1000] [--trace] [--event-loop asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import os
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from multiprocessing.synchronize import Barrier
from pathlib import Path

from bench_endpoint import make_site, rss_of, shares
from endpoint_load import Job, run

from kenshin.adapters.pki import PKI_FOLDER, server_ssl_context
from kenshin.adapters.sqlite import SqliteStore
from kenshin.entrypoints.mqtt.server import DeviceEndpoint, EndpointSettings
from kenshin.services.batching import CommitQueue
from kenshin.services.ingest import Ingest
from kenshin.services.security import SecurityLog


@dataclass
class Readings:
    """The process's memory before the units connected and once they were idle."""

    rss: list[int] = field(default_factory=list)
    types: list[Counter[str]] = field(default_factory=list)
    snapshots: list[tracemalloc.Snapshot] = field(default_factory=list)

    def take(self, trace: bool) -> None:
        """Read the resident memory, the objects by type and, if traced, a snapshot."""
        gc.collect()
        self.rss.append(rss_of(os.getpid())())
        self.types.append(Counter(type(o).__qualname__ for o in gc.get_objects()))
        if trace:
            self.snapshots.append(tracemalloc.take_snapshot())


async def serve_idle_units(folder: Path, devices: list[str], trace: bool) -> Readings:
    """Serve the site on this thread's loop, as ``kenshin serve`` does, while the idle
    units connect from the load generator's processes; the memory before and after."""
    store = SqliteStore(folder / "kenshin.db")
    security = SecurityLog()
    commits = CommitQueue(Ingest(store, security), max_messages=2000, window_s=0.05)
    settings = EndpointSettings("127.0.0.1", 0, connecting_per_address=1000)
    tls = server_ssl_context(folder / PKI_FOLDER)
    endpoint = DeviceEndpoint(settings, tls, store, commits, security)
    committing = asyncio.create_task(commits.run())
    await endpoint.start()
    await asyncio.to_thread(time.sleep, 0.1)  # the worker thread the endpoint uses, started
    readings = Readings()
    if trace:
        tracemalloc.start(1)
    readings.take(trace)

    def measure(barrier: Barrier) -> None:  # in a worker thread, the loop idle meanwhile
        time.sleep(2)
        readings.take(trace)
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)  # glibc: free pages back
        readings.rss.append(rss_of(os.getpid())())
        barrier.wait()

    try:
        certs, port = folder / "certs", endpoint.port
        jobs = [Job("idle", port, certs, part, 10) for part in shares(devices, 2)]
        await asyncio.to_thread(run, jobs, lambda: 0.0, measure)
        print(f"TLS sessions in the server's cache: {tls.session_stats()['number']}")
    finally:
        await endpoint.stop()
        await commits.close()
        await committing
        store.close()
    return readings


def new_loop(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the event loop called ``name``."""
    if name == "uvloop":  # not one of kenshin's dependencies: pip install uvloop
        new: Callable[[], asyncio.AbstractEventLoop] = import_module("uvloop").new_event_loop
        return new
    return asyncio.new_event_loop


def main() -> None:
    """Connect the idle units and print where the memory went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--trace", action="store_true", help="what Python allocated (slower)")
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--top", type=int, default=25, help="lines and types shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "site"
        devices = make_site(folder, args.units)
        with asyncio.Runner(loop_factory=new_loop(args.event_loop)) as runner:
            readings = runner.run(serve_idle_units(folder, devices, args.trace))
    report(args, readings)


def report(args: argparse.Namespace, readings: Readings) -> None:
    """Print the figures per unit."""
    n = args.units
    grown = (readings.rss[1] - readings.rss[0]) / n
    print(f"{n} idle units, {args.event_loop}; resident memory per unit: {grown / 1024:.1f} KiB")
    trimmed = (readings.rss[2] - readings.rss[0]) / n
    print(f"  after malloc_trim (free heap pages returned): {trimmed / 1024:.1f} KiB")
    objects = readings.types[1] - readings.types[0]
    print(f"objects the garbage collector tracks, per unit: {sum(objects.values()) / n:.1f}")
    for name, count in objects.most_common(args.top):
        print(f"  {count / n:6.2f}  {name}")
    if not readings.snapshots:
        return
    stats = readings.snapshots[1].compare_to(readings.snapshots[0], "lineno")
    python = sum(s.size_diff for s in stats) / n
    print(
        f"Python allocated per unit: {python / 1024:.1f} KiB; the rest of the resident"
        f" growth, {(grown - python) / 1024:.1f} KiB, is outside Python's allocators"
    )
    for stat in stats[: args.top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size_diff / n:8.0f} B  {stat.count_diff / n:5.2f} blocks  {where}")


if __name__ == "__main__":
    main()
