"""The mqtt phase of bench_million.py: a half hour's readings of every meter arriving over
MQTT/TLS, one message per unit, at ``kenshin serve`` on the site.

Issues each unit a certificate of the site's CA (timed), starts the server, waits
for the export run it makes at start to end (so that ingest is measured alone),
connects every unit (``million_load``), then times the units' one message each,
from the first PUBLISH to the last PUBACK. Afterwards every reading is looked up
in the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import pstats
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from million_load import Round, Units, run
from million_plan import Plan, device_id, meter_id, registers

from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.adapters.pki_files import write_device_files
from kenshin.adapters.sqlite import SqliteStore

TICKS = os.sysconf("SC_CLK_TCK")
START_EXPORT_WAIT_S = 1800.0


def issue_certificates(site: Path, units: int) -> Path:
    """A certificate of the site's CA for each unit, recorded in the store, written to
    site/certs (once: a folder made by an earlier run is used again)."""
    certs = site / "certs"
    if (certs / "done").exists():
        return certs
    certs.mkdir(exist_ok=True)
    authority = LocalCertificateAuthority.load(site / "pki")
    authority.export_cert(certs)
    store = SqliteStore(site / "kenshin.db")
    issued = recorded = 0.0
    try:
        for n in range(units):
            started = time.perf_counter()
            credentials = authority.issue_device(device_id(n))
            write_device_files(certs, device_id(n), credentials)
            issued += time.perf_counter() - started
            started = time.perf_counter()
            store.certificates.add_certificate(
                device_id(n), credentials.serial, credentials.not_after, int(time.time())
            )
            recorded += time.perf_counter() - started
    finally:
        store.close()
    (certs / "done").touch()
    print(
        f"issued {units:,} unit certificates in {issued + recorded:.1f} s: issuing and writing"
        f" the files {issued:.1f} s ({issued / units * 1000:.1f} ms each), recording them in"
        f" the store {recorded:.1f} s (a commit each)"
    )
    return certs


def tree(pid: int) -> list[int]:
    """``pid`` and its children (the server's endpoint processes, ``mqtt.processes``)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def proc_cpu(pid: int) -> float:
    """The CPU seconds process ``pid`` and its children have used so far."""
    total = 0.0
    for member in tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def proc_memory(pid: int, key: str) -> int:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM: the peak), in bytes, of the
    process and its children together (their peaks may not have come at once)."""
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                total += int(line.split()[1]) * 1024
    return total


def start_server(site: Path, profile: bool) -> tuple[subprocess.Popen[str], int]:
    """``kenshin serve`` on the site under ``thread_profile`` (its output site/serve-threads),
    its log in site/serve.log; it and its MQTT port."""
    env = {
        **os.environ,
        "KENSHIN_MQTT__PORT": "0",
        "KENSHIN_MQTT__HOST": "127.0.0.1",
        "KENSHIN_HTTP__PORT": "0",
        "KENSHIN_FTPS__PORT": "0",
        "KENSHIN_SFTP__PORT": "0",
        # Every unit comes from 127.0.0.1, two hundred connecting at once.
        "KENSHIN_MQTT__CONNECTING_PER_ADDRESS": "1000",
        "KENSHIN_LOGGING__LEVEL": "INFO",  # the end of its export run shows
    }
    for path in site.glob("serve-threads.*"):
        path.unlink()
    command = [
        sys.executable,
        str(Path(__file__).with_name("thread_profile.py")),
        str(site / "serve-threads"),
        *(["--cprofile"] if profile else []),
        *("-m", "kenshin", "--config", str(site / "kenshin.toml"), "serve"),
    ]
    with (site / "serve.log").open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"kenshin serve did not start:\n{(site / 'serve.log').read_text()}")
    return process, int(line.rsplit(" ", 1)[1])


def wait_for_log(site: Path, text: str, timeout_s: float) -> float:
    """Seconds until ``text`` shows in the server's log."""
    started = time.perf_counter()
    while text not in (site / "serve.log").read_text():
        if time.perf_counter() - started > timeout_s:
            raise SystemExit(f"no {text!r} in the server's log within {timeout_s:.0f} s")
        time.sleep(0.5)
    return time.perf_counter() - started


def peak_sampler(pid: int) -> tuple[Callable[[], None], Callable[[], int]]:
    """Start and stop of a thread sampling the process's RSS every 0.1 s; the peak seen."""
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], proc_memory(pid, "VmRSS"))

    thread = threading.Thread(target=sample, daemon=True)

    def stopped() -> int:
        stop.set()
        thread.join()
        return peak[0]

    return thread.start, stopped


def measure_mqtt(site: Path, plan: Plan, clients: int, profile: bool) -> None:
    """Certificates, the server, the units' one message each; print the figures. The
    server runs under ``thread_profile`` (its threads' CPU during the messages; with
    ``profile``, every thread under cProfile too)."""
    certs = issue_certificates(site, plan.connections)
    first, second = new_half_hours(site)
    last = registers(0, plan.total, 0)[:, -1] + 1000
    rounds = [(first, last.tolist()), (second, (last - 5).tolist())]
    parts = units_of(plan, certs, rounds, clients)
    server, port = start_server(site, profile)
    for part in parts:
        part.port = port
    try:
        waited = wait_for_log(site, "export run:", START_EXPORT_WAIT_S)
        print(
            f"server up; its export run at start took {waited:.1f} s; RSS"
            f" {proc_memory(server.pid, 'VmRSS') / 2**20:,.0f} MiB, peak so far"
            f" {proc_memory(server.pid, 'VmHWM') / 2**20:,.0f} MiB"
        )
        figures = publish(server.pid, parts, plan)
    finally:
        hwm = proc_memory(server.pid, "VmHWM")
        server.send_signal(signal.SIGTERM)
        server.wait(600)
    print(f"{figures}\nserver peak RSS over its life (VmHWM): {hwm / 2**20:,.0f} MiB")
    threads = json.loads((site / "serve-threads.json").read_text())
    print("server threads' CPU seconds while the messages came:", threads)
    if profile:
        summarise_threads(site)
    for at, values in rounds:
        check_stored(site, plan, values, at)


def new_half_hours(site: Path) -> tuple[int, int]:
    """The last two half hours before now without readings (an earlier run stored some)."""
    at = int(time.time()) // 1800 * 1800
    with contextlib.closing(
        sqlite3.connect(f"{(site / 'kenshin.db').as_uri()}?mode=ro", uri=True)
    ) as db:
        while db.execute("SELECT 1 FROM readings WHERE t IN (?, ?)", (at, at - 1800)).fetchone():
            at -= 1800
    return at, at - 1800


def publish(pid: int, parts: list[Units], plan: Plan) -> str:
    """The units connect, then publish their messages round by round; what was measured."""
    connected: list[int] = []
    start_sampling, peak_of = peak_sampler(pid)

    def on_start(number: int) -> None:
        if number == 1:
            connected.append(proc_memory(pid, "VmRSS"))
            os.kill(pid, signal.SIGUSR1)  # thread_profile: from now on
            start_sampling()

    load = os.getloadavg()[0]
    rounds, server_cpu = run(parts, lambda: proc_cpu(pid), on_start)
    os.kill(pid, signal.SIGUSR2)
    peak = peak_of()
    lines = [
        f"connected {plan.connections:,} units in {max(r.connect_s for r in rounds[0]):.1f} s"
        f" ({len(parts)} generator processes); server RSS with them connected"
        f" {connected[0] / 2**20:,.0f} MiB; load {load:.2f}"
    ]
    for number, (reports, cpu) in enumerate(zip(rounds, server_cpu, strict=True), start=1):
        window = max(r.last_puback for r in reports) - min(r.first_publish for r in reports)
        acked = sum(r.acked for r in reports)
        if acked != plan.connections:
            raise SystemExit(f"round {number}: {acked} PUBACKs of {plan.connections}")
        lines.append(
            f"round {number}: {acked:,} messages of {plan.per_unit} meters acknowledged, first"
            f" PUBLISH to last PUBACK {window:.2f} s: {plan.total / window:,.0f} readings/s,"
            f" {acked / window:,.0f} messages/s; server {cpu / window:.2f} cores (CPU {cpu:.1f} s),"
            f" generator {sum(r.cpu_s for r in reports) / window:.2f} cores"
        )
    lines.append(f"server peak RSS while the messages came {peak / 2**20:,.0f} MiB")
    return "\n".join(lines)


def summarise_threads(site: Path) -> None:
    """The busiest functions of each server thread that used over a second."""
    for path in sorted(site.glob("serve-threads.*.prof")):
        stats = pstats.Stats(str(path))
        if stats.total_tt > 1:  # type: ignore[attr-defined]
            print(f"--- cProfile of the server's thread {path.name}, by own time")
            stats.sort_stats("tottime").print_stats(12)


def units_of(
    plan: Plan, certs: Path, rounds: list[tuple[int, list[int]]], clients: int
) -> list[Units]:
    """The units dealt into ``clients`` parts, with their meters' registers at the time
    of each round."""
    parts = [Units(0, certs, [], [], []) for _ in range(clients)]
    for part in parts:
        for at, _ in rounds:
            part.rounds.append(Round(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)), []))
    for n in range(plan.connections):
        part, lo = parts[n % clients], n * plan.per_unit
        part.devices.append(device_id(n))
        part.meters.append([meter_id(m) for m in range(lo, lo + plan.per_unit)])
        for round_, (_, values) in zip(part.rounds, rounds, strict=True):
            round_.registers.append(values[lo : lo + plan.per_unit])
    return parts


def check_stored(site: Path, plan: Plan, values: list[int], at: int) -> None:
    """Every meter's reading at ``at`` is in the database with the register sent."""
    with contextlib.closing(
        sqlite3.connect(f"{(site / 'kenshin.db').as_uri()}?mode=ro", uri=True)
    ) as db:
        found = dict(
            db.execute(
                "SELECT m.id, r.fwd FROM readings r JOIN meters m ON m.key = r.meter WHERE r.t = ?",
                (at,),
            ).fetchall()
        )
    wrong = sum(found.get(meter_id(n)) != v for n, v in enumerate(values))
    print(
        f"stored at {at}: {plan.total - wrong:,} of {plan.total:,} readings with the register sent"
    )
    if wrong:
        raise SystemExit(f"{wrong} readings missing or wrong after the PUBACKs")
