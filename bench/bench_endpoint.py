"""The device endpoint under load: sustained ingest, the LTE-M cycle, memory per unit.

Starts ``kenshin serve`` on a new site (one process) and drives it with a load
generator in CLIENTS worker processes (``endpoint_load``: asyncio, kenshin's
``TlsStream``, one TLS client certificate per unit). Server and generator share
the machine's cores; each figure comes with the CPU time each side used.

- memory: the server's resident memory before and after UNITS idle connections.
- sustained: UNITS connected units publish JSON readings at QoS 1 continuously,
  WINDOW unacknowledged each; a PUBACK means the reading is committed. The same
  load then goes to Mosquitto (Debian package, same certificates, one
  subscriber at QoS 1 discarding what it gets) as the reference.
- cycles: units connect, publish one reading, wait for its PUBACK, disconnect,
  CONCURRENCY at a time: complete cycles per second, with a full handshake each
  time, then resuming the unit's TLS session (a session ticket) as a unit can.

    python bench/bench_endpoint.py [--units 1000] [--seconds 20] [--window 4] [--clients 2]
                                   [--event-loop asyncio|uvloop]

``--event-loop uvloop`` runs the server on uvloop (``pip install uvloop``): measured
2026-12-06, no gain (docs/benchmarks.md), so kenshin itself runs on asyncio's loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

from endpoint_load import Job, run

from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.adapters.pki_files import write_device_files
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Device

TICKS = os.sysconf("SC_CLK_TCK")


def make_site(folder: Path, units: int) -> list[str]:
    """A site with customer C-1 and ``units`` devices with certificates in folder/certs."""
    init_project(folder)
    store = SqliteStore(folder / "kenshin.db")
    store.registry.add_customer(Customer("C-1", "Bench"))
    authority = LocalCertificateAuthority.load(folder / "pki")
    (folder / "certs").mkdir()
    authority.export_cert(folder / "certs")
    devices = [f"U-{n:05d}" for n in range(units)] + ["SUB"]
    for device in devices:
        store.registry.add_device(Device(device, "C-1"))
        credentials = authority.issue_device(device)
        store.certificates.add_certificate(device, credentials.serial, credentials.not_after, 0)
        write_device_files(folder / "certs", device, credentials)
    store.close()
    return devices[:-1]


def tree_of(pid: int) -> list[int]:
    """``pid`` and its children (the server's endpoint processes)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        pids += [int(child) for child in children]
    return pids


def cpu_of(pid: int) -> Callable[[], float]:
    """The CPU seconds process ``pid`` and its children running now have used so far."""

    def read() -> float:
        total = 0.0
        for member in tree_of(pid):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total

    return read


def rss_of(pid: int) -> Callable[[], int]:
    """The resident memory of process ``pid`` and its children, in bytes."""

    def read() -> int:
        total = 0
        for member in tree_of(pid):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    return read


def start_kenshin(
    folder: Path, processes: int = 0, event_loop: str = "asyncio"
) -> tuple[subprocess.Popen[str], int]:
    env = {
        **os.environ,
        "KENSHIN_MQTT__PORT": "0",
        "KENSHIN_MQTT__HOST": "127.0.0.1",
        "KENSHIN_HTTP__PORT": "0",
        # Every generated unit comes from 127.0.0.1, up to 200 connecting at once: as units
        # behind one carrier NAT would, which is what this setting is raised for.
        "KENSHIN_MQTT__CONNECTING_PER_ADDRESS": "1000",
        "KENSHIN_MQTT__PROCESSES": str(processes),
        # The file servers are not measured here: their ports stay free for other work.
        "KENSHIN_FTPS__ENABLED": "false",
        "KENSHIN_SFTP__ENABLED": "false",
    }
    # ``kenshin serve`` itself, its event loop from the policy that makes them.
    run = "from kenshin.entrypoints.cli import main; main()"
    if event_loop == "uvloop":
        policy = "import asyncio, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())"
        run = f"{policy}; {run}"
    process = subprocess.Popen(
        [sys.executable, "-c", run, "--config", str(folder / "kenshin.toml"), "serve"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, int(line.rsplit(" ", 1)[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_mosquitto(folder: Path, port: int) -> subprocess.Popen[bytes]:
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {folder / 'certs' / 'ca.pem'}\ncertfile {folder / 'pki' / 'server.pem'}\n"
        f"keyfile {folder / 'pki' / 'server.key'}\nrequire_certificate true\n"
        "use_identity_as_username true\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\n" + ("user root\n" if os.geteuid() == 0 else "")
        # Run as root, mosquitto would switch to its own user, who cannot read the keys.
    )
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return process


def shares(items: list[str], n: int) -> list[list[str]]:
    """``items`` dealt into ``n`` parts."""
    return [items[i::n] for i in range(n)]


def phase(
    jobs: list[Job], seconds: float, pid: int, during: Callable[[Barrier], None] | None = None
) -> tuple[dict[str, int], str]:
    """Run ``jobs``; the counts and how the cores were shared."""
    load = os.getloadavg()[0]
    counts, server, generator = run(jobs, cpu_of(pid), during or (lambda _: time.sleep(seconds)))
    cores = f"server {server / seconds:.2f} cores, generator {generator / seconds:.2f} cores"
    return counts, f"{cores}, load {load:.2f}"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--processes",
        default="0",
        help="kenshin's mqtt.processes, or several separated by commas to compare in one run"
        " (0: one per core, 1: the endpoint in the server's process)",
    )
    parser.add_argument(
        "--event-loop", choices=["asyncio", "uvloop"], default="asyncio", help="the server's"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" {args.clients} generator processes; server and generator share the cores;"
        f" the server on {args.event_loop}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rates = {}
        for run_number, processes in enumerate(int(n) for n in args.processes.split(",")):
            # Each on a new site: a database that holds the last run's readings stores
            # the next run's (the same units, the same times) as duplicates.
            folder = Path(tmp) / f"site-{run_number}"
            devices = make_site(folder, args.units)
            print(f"kenshin with mqtt.processes = {processes}:")
            rates[processes] = measure_kenshin(args, folder, devices, processes)
        if shutil.which("mosquitto"):
            relay = measure_mosquitto(args, folder, devices)
            for processes, rate in rates.items():
                named = f" (mqtt.processes = {processes})" if len(rates) > 1 else ""
                print(f"ratio kenshin / mosquitto: {rate / relay:.2f}{named}")


def measure_kenshin(
    args: argparse.Namespace, folder: Path, devices: list[str], processes: int
) -> float:
    """Memory, sustained rate and cycles of kenshin; the sustained rate."""
    n, seconds, certs = args.clients, args.seconds, folder / "certs"
    server, port = start_kenshin(folder, processes, args.event_loop)
    try:
        rss = rss_of(server.pid)
        time.sleep(2)  # the server's processes settle after start (first polls of the store)
        before = rss()
        memory: list[int] = []

        def measure(barrier: Barrier) -> None:
            time.sleep(2)
            memory.append(rss())
            barrier.wait()

        jobs = [Job("idle", port, certs, part, seconds) for part in shares(devices, n)]
        phase(jobs, seconds, server.pid, measure)
        per_unit = (memory[0] - before) / len(devices) / 1024
        print(f"memory per idle connected unit: {per_unit:.1f} KiB")
        jobs = [
            Job("sustained", port, certs, part, seconds, args.window) for part in shares(devices, n)
        ]
        counts, cores = phase(jobs, seconds, server.pid)
        rate: float = counts["sustained"] / seconds
        print(
            f"kenshin sustained: {rate:,.0f} durable readings/s"
            f" ({args.units} units, window {args.window}; {cores})"
        )
        for kind in ("cycles", "resumed"):
            jobs = [
                Job(kind, port, certs, part, seconds, concurrency=args.concurrency // n)
                for part in shares(devices, n)
            ]
            counts, cores = phase(jobs, seconds, server.pid)
            handshake = "full handshakes" if kind == "cycles" else "TLS sessions resumed"
            print(
                f"kenshin LTE-M cycles, {handshake}: {counts[kind] / seconds:,.0f}/s"
                f" ({args.concurrency} at a time; {cores})"
            )
        return rate
    finally:
        server.terminate()
        server.wait(30)


def measure_mosquitto(args: argparse.Namespace, folder: Path, devices: list[str]) -> float:
    """The same sustained load relayed by Mosquitto to one subscriber; its rate."""
    n, seconds, certs = args.clients, args.seconds, folder / "certs"
    port = free_port()
    mosquitto = start_mosquitto(folder, port)
    try:
        jobs = [Job("subscriber", port, certs, ["SUB"], seconds)] + [
            Job("sustained", port, certs, part, seconds, args.window) for part in shares(devices, n)
        ]
        counts, cores = phase(jobs, seconds, mosquitto.pid)
        relay: float = counts["sustained"] / seconds
        print(
            f"mosquitto relay: {relay:,.0f} messages/s (same load, one QoS 1 subscriber"
            f" in a process of its own; {cores})"
        )
        return relay
    finally:
        mosquitto.terminate()
        mosquitto.wait(10)


if __name__ == "__main__":
    main()
