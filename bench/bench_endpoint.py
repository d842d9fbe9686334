"""The device endpoint under load: sustained ingest, the LTE-M cycle, memory per unit.

Starts ``kenshin serve`` on a new site (one process) and drives it from this
process with an asyncio load generator that speaks MQTT through kenshin's own
codec over mutual TLS, so both share the machine's cores: say so when quoting.

- sustained: UNITS connected units publish JSON readings at QoS 1 continuously,
  WINDOW unacknowledged each; a PUBACK means the reading is committed. The same
  load then goes to Mosquitto (Debian package, same certificates, one
  subscriber at QoS 1 discarding what it gets) as the reference.
- cycles: units connect, publish one reading, wait for its PUBACK, disconnect,
  CONCURRENCY at a time: complete cycles per second.
- memory: the server's resident memory before and after UNITS idle connections.

    python bench/bench_endpoint.py [--units 1000] [--seconds 20] [--window 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.adapters.pki_files import write_device_files
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Device
from kenshin.entrypoints.mqtt.codec import (
    ConnAck,
    Connect,
    Disconnect,
    PacketReader,
    PubAck,
    Publish,
    Subscribe,
    Subscription,
    encode,
)

LEVEL = 4
START = (int(time.time()) - 40 * 86_400) // 1800 * 1800  # readings of the past 40 days


def payload(device: str, k: int) -> bytes:
    """Reading number ``k`` of a unit: one half hour after the one before."""
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + 1800 * k))
    return json.dumps(
        {
            "v": 1,
            "device": device,
            "seq": k,
            "sent": t,
            "meters": [
                {
                    "meter": f"M-{device}",
                    "unit": "0.1kWh",
                    "coefficient": 1,
                    "digits": 6,
                    "readings": [{"t": t, "fwd": 1000 + k}],
                }
            ],
        },
        separators=(",", ":"),
    ).encode()


def make_site(folder: Path, units: int) -> list[str]:
    """A site with customer C-1 and ``units`` devices with certificates in folder/certs."""
    init_project(folder)
    store = SqliteStore(folder / "kenshin.db")
    store.add_customer(Customer("C-1", "Bench"))
    authority = LocalCertificateAuthority.load(folder / "pki")
    (folder / "certs").mkdir()
    authority.export_cert(folder / "certs")
    devices = [f"U-{n:05d}" for n in range(units)] + ["SUB"]
    for device in devices:
        store.add_device(Device(device, "C-1"))
        credentials = authority.issue_device(device)
        store.add_certificate(device, credentials.serial, credentials.not_after, 0)
        write_device_files(folder / "certs", device, credentials)
    store.close()
    return devices[:-1]


def context(folder: Path, device: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(folder / "certs" / "ca.pem"))
    ctx.load_cert_chain(folder / "certs" / f"{device}.pem", folder / "certs" / f"{device}.key")
    return ctx


class Unit:
    """One MQTT connection of the load generator."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.packets = PacketReader(1 << 20, server_side=False, protocol_level=LEVEL)
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self, port: int, ctx: ssl.SSLContext, keep_alive: int = 120) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
        )
        self.writer.write(encode(Connect(LEVEL, self.device, keep_alive=keep_alive), LEVEL))
        [ack] = await self.next_packets()
        if not isinstance(ack, ConnAck) or ack.reason_code:
            raise RuntimeError(f"{self.device}: refused: {ack}")

    async def next_packets(self) -> list[object]:
        while True:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError(f"{self.device}: closed")
            packets = self.packets.feed(data)
            if packets:
                return list(packets)

    async def close(self) -> None:
        self.writer.write(encode(Disconnect(), LEVEL))
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def sustained(
    port: int, folder: Path, devices: list[str], seconds: float, window: int
) -> float:
    """Acknowledged PUBLISHes per second, UNITS connected, ``window`` in flight each."""
    units = [Unit(d) for d in devices]
    await asyncio.gather(*(u.connect(port, context(folder, u.device)) for u in units))
    acked = 0
    stop_at = time.monotonic() + seconds

    async def drive(unit: Unit) -> None:
        nonlocal acked
        k = sent = 0
        while time.monotonic() < stop_at:
            while sent - k < window:
                sent += 1
                unit.writer.write(
                    encode(
                        Publish(
                            f"dt/kenshin/{unit.device}/readings",
                            payload(unit.device, sent),
                            1,
                            packet_id=sent % 65535 or 1,
                        ),
                        LEVEL,
                    )
                )
            for packet in await unit.next_packets():
                if isinstance(packet, PubAck):
                    k += 1
                    acked += 1

    started = time.monotonic()
    await asyncio.gather(*(drive(u) for u in units))
    elapsed = time.monotonic() - started
    await asyncio.gather(*(u.close() for u in units), return_exceptions=True)
    return acked / elapsed


async def cycles(
    port: int, folder: Path, devices: list[str], seconds: float, concurrency: int
) -> float:
    """Complete connect-publish-PUBACK-disconnect cycles per second."""
    contexts = {d: context(folder, d) for d in devices}
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        k = 0
        while time.monotonic() < stop_at:
            device = devices[(n + k * concurrency) % len(devices)]
            k += 1
            unit = Unit(device)
            await unit.connect(port, contexts[device])
            unit.writer.write(
                encode(
                    Publish(
                        f"dt/kenshin/{device}/readings", payload(device, 5000 + k), 1, packet_id=1
                    ),
                    LEVEL,
                )
            )
            while not any(isinstance(p, PubAck) for p in await unit.next_packets()):
                pass
            await unit.close()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done / (time.monotonic() - started)


async def idle_memory(port: int, folder: Path, devices: list[str], rss: Callable[[], int]) -> float:
    """Server memory (bytes) per idle connected unit."""
    before = rss()
    units = [Unit(d) for d in devices]
    for lo in range(0, len(units), 100):
        await asyncio.gather(
            *(u.connect(port, context(folder, u.device)) for u in units[lo : lo + 100])
        )
    await asyncio.sleep(2)
    after = rss()
    await asyncio.gather(*(u.close() for u in units), return_exceptions=True)
    return (after - before) / len(units)


def rss_of(pid: int) -> Callable[[], int]:
    def read() -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    return read


def start_kenshin(folder: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kenshin", "--config", str(folder / "kenshin.toml"), "serve"],
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


async def discard(port: int, folder: Path) -> asyncio.Task[None]:
    """A subscriber to every unit's readings at QoS 1 that acknowledges and drops them."""
    sub = Unit("SUB")
    await sub.connect(port, context(folder, "SUB"))
    sub.writer.write(encode(Subscribe(1, (Subscription("dt/#", 1),)), LEVEL))

    async def drain() -> None:
        while True:
            for packet in await sub.next_packets():
                if isinstance(packet, Publish) and packet.packet_id:
                    sub.writer.write(encode(PubAck(packet.packet_id), LEVEL))

    return asyncio.create_task(drain())


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" load {os.getloadavg()[0]:.2f}; server and load generator share the cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "site"
        devices = make_site(folder, args.units)
        server, port = start_kenshin(folder)
        try:
            memory = asyncio.run(idle_memory(port, folder, devices, rss_of(server.pid)))
            print(f"memory per idle connected unit: {memory / 1024:.1f} KiB")
            rate = asyncio.run(sustained(port, folder, devices, args.seconds, args.window))
            print(
                f"kenshin sustained: {rate:,.0f} durable readings/s"
                f" ({args.units} units, window {args.window})"
            )
            cycle_rate = asyncio.run(cycles(port, folder, devices, args.seconds, args.concurrency))
            print(f"kenshin LTE-M cycles: {cycle_rate:,.0f}/s ({args.concurrency} at a time)")
        finally:
            server.terminate()
            server.wait(30)
        if shutil.which("mosquitto"):
            free = free_port()
            mosquitto = start_mosquitto(folder, free)

            async def reference() -> float:
                drain = await discard(free, folder)
                try:
                    return await sustained(free, folder, devices, args.seconds, args.window)
                finally:
                    drain.cancel()

            try:
                relay = asyncio.run(reference())
                print(f"mosquitto relay: {relay:,.0f} messages/s (same load, one QoS 1 subscriber)")
                print(f"ratio kenshin / mosquitto: {rate / relay:.2f}")
            finally:
                mosquitto.terminate()
                mosquitto.wait(10)


if __name__ == "__main__":
    main()
