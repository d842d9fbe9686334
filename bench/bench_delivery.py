"""Customers collecting their daily files at once, over FTPS and over SFTP.

Renders one real wide daily file of METERS meters (readings in a SQLite store,
``export_day``), copies it into the outbox of CUSTOMERS customers with its
manifest, starts ``kenshin serve`` on the site in another process, then has
every customer log in and download its file at the same moment: first all over
FTPS (Python's ftplib, one thread each, TLS with PROT P), then all over SFTP
(asyncssh, one connection each). Each download is checked byte for byte.
Prints total MB/s, the slowest customer's time (login included) and the machine
load.

    python bench/bench_delivery.py [--customers 100] [--meters 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import ftplib
import os
import platform
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import asyncssh
from cryptography.hazmat.primitives import serialization

from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.accounts import Account
from kenshin.domain.manifest import manifest_name
from kenshin.domain.model import Customer, Device, Meter, MeterSpec, Reading
from kenshin.domain.slots import day_slots, day_start, zone
from kenshin.services.accounts import hash_password
from kenshin.services.export import ExportSettings, export_day

DAY = date(2026, 11, 26)
PASSWORD = "benchmark password"
NOW = day_start(date(2026, 11, 27), zone("Asia/Tokyo")) + 7 * 3600  # past the grace: final


def render_file(meters: int) -> tuple[str, bytes, bytes]:
    """Name, bytes and manifest of one real wide daily file of ``meters`` meters."""
    store = SqliteStore.in_memory()
    customer = Customer("C-BENCH", "Bench")
    store.registry.add_customer(customer)
    store.registry.add_device(Device("U-BENCH", customer.id))
    ids = [f"M-{n:07d}" for n in range(meters)]
    store.registry.save_meters(Meter(m, "U-BENCH", MeterSpec(100_000, 1, 6)) for m in ids)
    times = day_slots(DAY, zone(customer.timezone)).boundaries
    for lo in range(0, meters, 1000):
        store.readings.add_readings(
            [
                Reading(m, t, 100_000 + n % 997 + (n % 7) * i, (n % 5) * i if n % 10 == 0 else None)
                for n, m in enumerate(ids[lo : lo + 1000], start=lo)
                for i, t in enumerate(times)
            ],
            received_at=NOW,
        )
    with tempfile.TemporaryDirectory() as folder:
        outbox = LocalOutbox(Path(folder))
        export_day(store, outbox, customer, DAY, now=NOW, settings=ExportSettings())
        name = next(n for n in outbox.list_files(customer.id) if not n.endswith(".json"))
        content, manifest = (
            outbox.read(customer.id, name),
            outbox.read(customer.id, manifest_name(name)),
        )
    store.close()
    assert content is not None
    assert manifest is not None
    return name, content, manifest


def make_site(root: Path, customers: int, name: str, content: bytes, manifest: bytes) -> list[str]:
    """A site whose customers each have the file (a copy) and a password; their ids."""
    init_project(root)
    store = SqliteStore(root / "kenshin.db")
    hashed = hash_password(PASSWORD)
    ids = [f"C-{n:03d}" for n in range(customers)]
    first = root / "outbox" / "first.csv"
    first.parent.mkdir(exist_ok=True)
    first.write_bytes(content)
    for customer in ids:
        store.registry.add_customer(Customer(customer, customer))
        store.deliveries.save_account(Account(customer, hashed))
        folder = root / "outbox" / customer
        folder.mkdir()
        shutil.copyfile(first, folder / name)
        (folder / manifest_name(name)).write_bytes(manifest)
    first.unlink()
    store.close()
    return ids


def start(root: Path) -> tuple[subprocess.Popen[str], int, int]:
    env = {
        **os.environ,
        "KENSHIN_MQTT__HOST": "127.0.0.1",
        "KENSHIN_MQTT__PORT": "0",
        "KENSHIN_FTPS__HOST": "127.0.0.1",
        "KENSHIN_FTPS__PORT": "0",
        "KENSHIN_FTPS__PASSIVE_PORTS": "42000-42999",
        "KENSHIN_SFTP__HOST": "127.0.0.1",
        "KENSHIN_SFTP__PORT": "0",
        "KENSHIN_HTTP__PORT": "0",
        "KENSHIN_SCHEDULE__EXPORT_MINUTES": "1440",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kenshin", "--config", str(root / "kenshin.toml"), "serve"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < 3:
        found = re.fullmatch(r"listening: (.+) on \S+ port (\d+)\n", process.stdout.readline())
        assert found, "the server did not start"
        ports[found[1]] = int(found[2])
    return process, ports["FTPS"], ports["SFTP"]


def ftps_download(port: int, ca: Path, customer: str, name: str) -> bytes:
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=ca), timeout=120)
    ftp.connect("localhost", port)
    ftp.login(customer, PASSWORD)
    ftp.prot_p()
    data = bytearray()
    ftp.retrbinary(f"RETR {name}", data.extend, blocksize=65536)
    ftp.quit()
    return bytes(data)


def run_ftps(
    port: int, ca: Path, ids: list[str], name: str
) -> tuple[float, list[float], list[bytes]]:
    times: list[float] = [0.0] * len(ids)
    got: list[bytes] = [b""] * len(ids)
    go = threading.Event()

    def one(i: int) -> None:
        go.wait()
        t0 = time.perf_counter()
        got[i] = ftps_download(port, ca, ids[i], name)
        times[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ids))]
    for thread in threads:
        thread.start()
    t0 = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    return time.perf_counter() - t0, times, got


async def run_sftp(
    port: int, known: str, ids: list[str], name: str
) -> tuple[float, list[float], list[bytes]]:
    known_hosts = asyncssh.import_known_hosts(known)

    async def one(customer: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        async with (
            asyncssh.connect(
                "127.0.0.1",
                port,
                username=customer,
                password=PASSWORD,
                known_hosts=known_hosts,
                client_keys=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
            sftp.open(name, "rb") as file,
        ):
            data: bytes = await file.read()
        return time.perf_counter() - t0, data

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(c) for c in ids))
    return time.perf_counter() - t0, [r[0] for r in results], [r[1] for r in results]


def report(
    label: str, run: Callable[[], tuple[float, list[float], list[bytes]]], content: bytes
) -> None:
    load = os.getloadavg()[0]
    wall, times, got = run()
    assert all(g == content for g in got), f"{label}: a download differs from the outbox"
    total = len(content) * len(got) / 1e6
    print(
        f"{label}: {len(got)} customers x {len(content) / 1e6:.2f} MB = {total:.0f} MB in"
        f" {wall:.2f} s: {total / wall:.1f} MB/s; per customer median"
        f" {statistics.median(times):.2f} s, slowest {max(times):.2f} s;"
        f" load before {load:.2f}, after {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--meters", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    name, content, manifest = render_file(args.meters)
    print(f"file: {name}, {args.meters} meters, {len(content):,} bytes")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ids = make_site(root, args.customers, name, content, manifest)
        process, ftps_port, sftp_port = start(root)
        try:
            private = serialization.load_ssh_private_key(
                (root / "ssh" / "host_key").read_bytes(), password=None
            )
            key = (
                private.public_key()
                .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                .decode()
            )
            ca = root / "pki" / "ca.pem"
            report("FTPS", lambda: run_ftps(ftps_port, ca, ids, name), content)
            known = f"[127.0.0.1]:{sftp_port} {key}"
            report("SFTP", lambda: asyncio.run(run_sftp(sftp_port, known, ids, name)), content)
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
