"""The cluster's ingest: ``kenshin worker`` processes on Mosquitto and PostgreSQL against
``kenshin serve`` with its own endpoint and SQLite, Mosquitto's bare relay the reference,
in one run with the same load.

The load (``cluster_load``): a simulated fleet (``kenshin simulate``: UNITS units, one
reading a message every half hour), every unit connected over mutual TLS with its own
certificate and publishing its messages in order at QoS 1, WINDOW unacknowledged at a
time, from CLIENTS processes. First each unit's WARMUP_DAYS (not measured: every unit and
meter is then known to the store and to each process, as in a running system), then
DAYS more, measured. The publisher shares the machine's cores with what it loads: its
CPU time is shown with the others'.

- relay: Mosquitto, as ``kenshin broker-config mosquitto`` configures it, relays every
  message to one ``mosquitto_sub`` at QoS 1 (it acknowledges at once): from the start
  until the subscriber has them all.
- serve: ``kenshin serve`` on SQLite, each PUBACK once the reading is committed: from the
  start until the last PUBACK; the readings are then counted in the store.
- workers: N ``kenshin worker`` processes reading from that Mosquitto through shared
  subscriptions into a PostgreSQL store (a database made for the run and dropped after,
  a schema per case): from the start until the store holds every reading.

Each case has a new broker and store. CPU: user + system seconds of each process
(/proc), of the publisher, of PostgreSQL (the backends of the run's database and the
server's writers), and of the whole machine (/proc/stat), from the start to the end;
"other work" is the machine's less all of these. ``--rounds`` runs every case again.
``--profile DIR`` runs the workers under ``thread_profile.py``: each one's CPU by
thread over the measured part, in DIR (``--cprofile``: and cProfile of every thread).

    python bench/bench_cluster.py [--units 2000] [--days 4] [--workers 1,2,3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from bench_endpoint import free_port, shares, start_kenshin
from cluster_load import Publisher, Share
from psycopg import sql

from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.adapters.pki_files import write_device_files
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Device
from kenshin.ports import Store
from kenshin.sim.files import write_simulation
from kenshin.sim.fleet import FleetSpec

TICKS = os.sysconf("SC_CLK_TCK")
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
STALL_S = 60.0  # nothing more stored or relayed for this long: the case ends incomplete
PG_WRITERS = ("walwriter", "checkpointer", "background writer")


@dataclass
class Case:
    """One case's figures; CPU seconds by process from the start to the end."""

    name: str
    readings: int  # stored (relayed, for the relay)
    expected: int
    elapsed_s: float
    published_s: float  # when the publisher had its last PUBACK
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_s: float = 0.0  # the whole machine's busy CPU seconds over the case
    machine_cores: float = 0.0  # the same in cores busy
    load: float = 0.0
    others: dict[str, float] = field(default_factory=dict)  # the most CPU outside the case

    @property
    def rate(self) -> float:
        """Readings (messages) per second."""
        return self.readings / self.elapsed_s if self.elapsed_s else 0.0


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


def cpu_seconds(pid: int) -> float:
    """The CPU seconds (user + system) process ``pid`` has used; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def every_process() -> dict[int, tuple[str, float]]:
    """Each process's name and CPU seconds so far, and (as "ended children of NAME")
    what the processes each one has waited for used: where other work went."""
    found: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields, pid, name = rest.split(), int(stat.parent.name), head.split("(", 1)[1]
        found[pid] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
        found[-pid] = (f"ended children of {name}", (int(fields[13]) + int(fields[14])) / TICKS)
    return found


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, not idle nor waiting)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


class Meter:
    """CPU seconds of named processes and of the machine, from ``start`` to ``stop``."""

    def __init__(self, target: Target) -> None:
        self._pids = target.pids
        self._cpu = target.cpu
        self._marked = target.marked  # under thread_profile: told of the start and end
        self._start: dict[int, float] = {}
        self._machine = self._wall = 0.0
        self._everyone: dict[int, tuple[str, float]] = {}
        self.cores = 0.0
        self.used: dict[str, float] = {}
        self.machine_s = 0.0
        self.others: dict[str, float] = {}  # the other processes' CPU seconds, by name

    def start(self) -> None:
        self._start = {pid: self._cpu(pid) for pids in self._pids().values() for pid in pids}
        self._everyone = every_process()
        self._machine, self._wall = machine_busy(), time.monotonic()
        for pid in self._marked:
            os.kill(pid, signal.SIGUSR1)

    def stop(self, exclude: list[int]) -> None:
        """The figures since ``start``; ``exclude``: processes measured otherwise."""
        self.machine_s = machine_busy() - self._machine
        self.cores = self.machine_s / (time.monotonic() - self._wall)
        for pid in self._marked:
            os.kill(pid, signal.SIGUSR2)
        measured = {pid for pids in self._pids().values() for pid in pids}
        measured |= {*exclude, os.getpid()}
        for name, pids in self._pids().items():
            self.used[name] = sum(self._cpu(pid) - self._start.get(pid, 0.0) for pid in pids)
        others: dict[str, float] = {}
        for pid, (name, cpu) in every_process().items():
            if abs(pid) not in measured:
                others[name] = others.get(name, 0.0) + cpu - self._everyone.get(pid, ("", 0.0))[1]
        top = sorted(others.items(), key=lambda item: -item[1])[:4]
        self.others = {name: round(cpu, 1) for name, cpu in top if cpu >= 0.1}


@dataclass
class Target:
    """What a case loads: the endpoint's port, the processes to measure (by name), those
    to tell of the start and end (under thread_profile), and how many readings the
    store (or the subscriber) has."""

    port: int
    pids: Callable[[], dict[str, list[int]]]
    count: Callable[[], int]
    marked: list[int] = field(default_factory=list)
    end_at_puback: bool = False  # the last PUBACK is the end (serve: after the commit)
    counts_messages: bool = False  # count() is of messages, not readings (the relay)
    ended: Callable[[], float | None] = lambda: None  # the exact end, once known
    cpu: Callable[[int], float] = cpu_seconds  # a process's CPU seconds so far


def run_case(name: str, site: Site, target: Target) -> Case:
    """Publish the warm-up and wait until it is stored, then the rest: the case's
    figures from the start until every reading is stored (relayed)."""
    publisher = Publisher(site.shares(target.port))
    try:
        publisher.connected()
        warm_count, whole = site.warm_readings, site.readings
        if target.counts_messages:
            warm_count, whole = site.warm_messages, site.messages_count
        warm, _ = wait_for_count(target.count, warm_count)
        publisher.warmed()
        meter = Meter(target)
        load = os.getloadavg()[0]
        meter.start()
        started = publisher.go()
        if target.end_at_puback:
            end = publisher.wait()[2]
            total = target.count()
        else:
            total, end = wait_for_count(target.count, whole)
            end = target.ended() or end
        meter.stop(publisher.pids)
        acked, publisher_cpu, published_at = publisher.wait()
    finally:
        publisher.stop()
    elapsed = end - started
    case = Case(name, total - warm, whole - warm_count, elapsed, published_at - started)
    case.cpu_s = {"publisher": publisher_cpu, **meter.used}
    case.machine_s, case.machine_cores, case.load = meter.machine_s, meter.cores, load
    case.others = meter.others
    if acked != site.messages_count - site.warm_messages:
        print(f"  {name}: {acked:,} messages acknowledged after the start")
    show(case)
    return case


def show(case: Case) -> None:
    cpu = ", ".join(f"{name} {s:.1f}" for name, s in case.cpu_s.items())
    done = "" if case.readings >= case.expected else f" (INCOMPLETE: of {case.expected:,})"
    print(
        f"{case.name}: {case.readings:,} readings{done} in {case.elapsed_s:.1f} s ="
        f" {case.rate:,.0f}/s; publisher done at {case.published_s:.1f} s; CPU s: {cpu};"
        f" machine {case.machine_cores:.2f} cores busy; load before {case.load:.1f};"
        f" other processes: {case.others}",
        flush=True,
    )


def wait_for_count(
    count: Callable[[], int], expected: int, every_s: float = 1.0
) -> tuple[int, float]:
    """Poll ``count`` until it reaches ``expected`` (or stalls): (count, when reached).
    Every ``every_s``, and every 0.1 s in the first 3 s and once the end is near at the
    rate so far, so that counting a large table costs the store little."""
    start, first = time.monotonic(), None
    last, changed = -1, start
    while True:
        now, n = time.monotonic(), count()
        if n >= expected:
            return n, now
        first = n if first is None else first
        if n != last:
            last, changed = n, now
        elif now - changed > STALL_S:
            return n, changed
        rate = (n - first) / (now - start) if now > start else 0.0
        near = now - start < 3 or (rate > 0 and (expected - n) / rate < 2 * every_s)
        time.sleep(0.1 if near else every_s)


class Broker:
    """Mosquitto on the configuration ``kenshin broker-config`` wrote, a new session
    store each time."""

    def __init__(self, site: Site, log: Path) -> None:
        broker = site.folder / "broker"
        shutil.rmtree(broker / "data", ignore_errors=True)
        (broker / "data").mkdir()
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                ["mosquitto", "-c", str(broker / "mosquitto.conf")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = site.broker_port
        deadline = time.monotonic() + 10
        while not _accepts(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"mosquitto did not start: see {log}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def relay(site: Site, logs: Path) -> Case:
    """Mosquitto relaying the load to one subscriber at QoS 1."""
    broker = Broker(site, logs / "mosquitto-relay.log")
    files = site.folder / "broker"
    sub = ["mosquitto_sub", "-h", "localhost", "-p", str(site.broker_port), "-V", "5"]
    sub += ["--cafile", str(files / "ca.pem"), "--cert", str(files / "worker.pem")]
    sub += ["--key", str(files / "worker.key"), "-q", "1", "-t", "dt/kenshin/+/readings"]
    sub += ["-i", "bench-relay", "-c", "-x", "600"]  # a session: kept while it reconnects
    subprocess.run([*sub, "-E"], check=True, timeout=30)  # subscribed once it returns
    received = logs / "relayed"
    with received.open("wb") as out:  # "x" and a new line per message: 2 bytes each
        subscriber = subprocess.Popen([*sub, "-C", str(site.messages_count), "-F", "x"], stdout=out)
    ended: dict[str, float] = {}

    def wait_exit() -> None:
        _, _, usage = os.wait4(subscriber.pid, 0)
        ended["at"] = time.monotonic()
        ended["cpu"] = usage.ru_utime + usage.ru_stime
        subscriber.returncode = 0

    threading.Thread(target=wait_exit, daemon=True).start()

    def cpu(pid: int) -> float:  # the subscriber's, once it has ended, from wait4
        return ended["cpu"] if pid == subscriber.pid and "cpu" in ended else cpu_seconds(pid)

    def relayed() -> int:
        if "at" in ended:  # every message: the exact end, not the last look
            return site.messages_count
        return received.stat().st_size // 2

    def pids() -> dict[str, list[int]]:
        return {"mosquitto": [broker.process.pid], "mosquitto_sub": [subscriber.pid]}

    try:
        target = Target(broker.port, pids, relayed, counts_messages=True, cpu=cpu)
        target.ended = lambda: ended.get("at")
        return run_case("relay", site, target)
    finally:
        if "at" not in ended:
            subscriber.kill()
        broker.stop()


def serve(site: Site) -> Case:
    """``kenshin serve`` on SQLite, its own endpoint, a store as new."""
    database = site.folder / "kenshin.db"
    for stale in (database, *(database.with_name(f"kenshin.db-{x}") for x in ("wal", "shm"))):
        stale.unlink(missing_ok=True)
    shutil.copyfile(database.with_name("kenshin.db.new"), database)
    server, port = start_kenshin(site.folder)

    def pids() -> dict[str, list[int]]:
        return {"kenshin serve": [server.pid]}

    def stored() -> int:
        with sqlite3.connect(f"file:{site.folder / 'kenshin.db'}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0])

    try:
        return run_case("serve", site, Target(port, pids, stored, end_at_puback=True))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def workers(site: Site, count: int, database: str, logs: Path, number: int) -> Case:
    """``count`` workers on Mosquitto and a new schema of the run's database."""
    schema = f"workers_{count}_{number}"
    url = f"{database}?schema={schema}"
    register(site, PostgresStore(url, create=True))
    broker = Broker(site, logs / f"mosquitto-{count}.log")
    env = {
        **os.environ,
        "KENSHIN_STORE__URL": url,
        "KENSHIN_BROKER__URL": f"mqtts://127.0.0.1:{site.broker_port}",
        "KENSHIN_HTTP__PORT": "0",
    }
    names = [f"bench-{count}-{n}" for n in range(1, count + 1)]
    processes: list[subprocess.Popen[str]] = []
    try:
        for name in names:
            processes.append(start_worker(site, name, env, logs / f"{name}.log", number))
        with psycopg.connect(database, autocommit=True) as db:

            def pids() -> dict[str, list[int]]:
                found = {name: [p.pid] for name, p in zip(names, processes, strict=True)}
                found["mosquitto"] = [broker.process.pid]
                found["PostgreSQL"] = postgres_pids(db)
                return found

            def stored() -> int:
                query = sql.SQL("SELECT count(*) FROM {}.readings")
                row = db.execute(query.format(sql.Identifier(schema))).fetchone()
                return int(row[0]) if row else 0

            marked = [p.pid for p in processes] if site.args.profile else []
            target = Target(broker.port, pids, stored, marked)
            return run_case(f"{count} worker{'s' * (count > 1)}", site, target)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(120)
        broker.stop()


def start_worker(
    site: Site, name: str, env: dict[str, str], log: Path, number: int
) -> subprocess.Popen[str]:
    """``kenshin worker --name NAME``, once connected to the broker and listening."""
    with log.open("a") as errors:
        command = site.command("worker", "--name", name)
        if site.args.profile:  # python bench/thread_profile.py OUT [--cprofile] -m kenshin
            profiler = [str(Path(__file__).with_name("thread_profile.py"))]
            profiler += [str(site.args.profile.resolve() / f"round{number + 1}-{name}")]
            profiler += ["--cprofile"] if site.args.cprofile else []
            command[1:1] = profiler
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
        )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("listening: HTTP"):
            break
    else:
        raise RuntimeError(f"worker {name} ended: {log.read_text()[-2000:]}")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # never a full pipe
    return process


def postgres_pids(db: psycopg.Connection[tuple[Any, ...]]) -> list[int]:
    """The backends of this database and the server's writers, but this one."""
    rows = db.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE (datname = current_database() OR backend_type = ANY(%s))"
        " AND pid <> pg_backend_pid()",  # not the benchmark's own, counting readings
        (list(PG_WRITERS),),
    ).fetchall()
    return [int(row[0]) for row in rows]


class Database:
    """A database of the run's own on the server of ``server``, dropped after."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.name = f"kenshin_bench_{uuid.uuid4().hex[:12]}"
        self.url = urlunsplit(urlsplit(server)._replace(path=f"/{self.name}"))

    def __enter__(self) -> str:
        with psycopg.connect(self.server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        return self.url

    def __exit__(self, *_: object) -> None:
        with psycopg.connect(self.server, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(self.name))
            admin.execute(drop)


def ratios(cases: list[Case]) -> dict[str, float]:
    """The workers' rates against serve's, and every rate against the relay's."""
    rate = {case.name: case.rate for case in cases}
    found: dict[str, float] = {}
    for base, others in (("serve", ("serve", "relay")), ("relay", ("relay",))):
        for case in cases:
            if rate.get(base) and case.name not in others:
                found[f"{case.name} / {base}"] = case.rate / rate[base]
    return found


def table(cases: list[Case]) -> str:
    """The figures as a markdown table."""
    lines = [
        "| case | readings/s | time | publisher done | CPU s: publisher | kenshin"
        " | Mosquitto | PostgreSQL | subscriber | machine busy (other work) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        cpu = dict(case.cpu_s)
        publisher = cpu.pop("publisher", 0.0)
        mosquitto = cpu.pop("mosquitto", 0.0)
        postgres = cpu.pop("PostgreSQL", 0.0)
        subscriber = cpu.pop("mosquitto_sub", 0.0)
        kenshin = " + ".join(f"{s:.1f}" for s in cpu.values()) or "-"
        other = case.machine_s - sum(case.cpu_s.values())
        rate = f"{case.rate:,.0f}" + ("" if case.readings >= case.expected else " (incomplete)")
        lines.append(
            f"| {case.name} | {rate} | {case.elapsed_s:.1f} s | {case.published_s:.1f} s"
            f" | {publisher:.1f} | {kenshin} | {mosquitto:.1f} | {postgres:.1f}"
            f" | {subscriber:.1f} | {case.machine_cores:.2f} cores ({other:.1f} s) |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" SQLite {sqlite3.sqlite_version}"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--days", type=int, default=4, help="days of readings per unit")
    parser.add_argument(
        "--warmup-days", type=int, default=1, help="published first, before the start"
    )
    parser.add_argument("--window", type=int, default=4, help="unacknowledged per unit")
    parser.add_argument("--clients", type=int, default=2, help="publisher processes")
    parser.add_argument("--workers", default="1,2,3", help="worker counts, one case each")
    parser.add_argument(
        "--cases", default="relay,serve,workers", help="which of relay, serve, workers to run"
    )
    parser.add_argument("--rounds", type=int, default=1, help="run the cases this many times")
    parser.add_argument("--postgres", default=POSTGRES, metavar="URL", help="the server")
    parser.add_argument("--quick", action="store_true", help="a small run, to try the bench")
    parser.add_argument("--out", type=Path, help="the figures as .json, or else markdown")
    parser.add_argument("--keep", action="store_true", help="keep the site and the logs")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="each worker's CPU by thread, in DIR"
    )
    parser.add_argument("--cprofile", action="store_true", help="with --profile: cProfile too")
    args = parser.parse_args()
    if args.quick:
        args.units, args.days, args.clients = 100, 1, 1
    args.counts = [int(n) for n in args.workers.split(",") if n]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    return args


def main() -> None:
    """Run every case and print the figures."""
    args = parse()
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    rounds: list[list[Case]] = []
    try:
        site = make_site(tmp / "site", args)
        logs = tmp / "logs"
        logs.mkdir()
        print(
            f"load: {len(site.serials):,} units, {site.messages_count - site.warm_messages:,}"
            f" messages with {site.readings - site.warm_readings:,} readings after a warm-up"
            f" of {site.warm_messages:,}; {args.clients} publisher processes,"
            f" {args.window} unacknowledged per unit",
            flush=True,
        )
        with Database(args.postgres) as database:
            for n in range(args.rounds):
                rounds.append(run_round(site, database, logs, n))
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for n, cases in enumerate(rounds, 1):
        print(f"round {n}:" if len(rounds) > 1 else "")
        for name, ratio in ratios(cases).items():
            print(f"{name}: {ratio:.2f}")
        print(table(cases))
    if args.out:
        write_out(args, rounds)


def run_round(site: Site, database: str, logs: Path, number: int) -> list[Case]:
    """Each case once, in order: the relay, serve, the workers."""
    wanted = site.args.cases.split(",")
    cases = []
    if "relay" in wanted and shutil.which("mosquitto_sub"):
        cases.append(relay(site, logs))
    if "serve" in wanted:
        cases.append(serve(site))
    if "workers" in wanted:
        cases += [workers(site, n, database, logs, number) for n in site.args.counts]
    return cases


def write_out(args: argparse.Namespace, rounds: list[list[Case]]) -> None:
    """The figures of every round in ``--out``: JSON if it ends in .json, else markdown."""
    if args.out.suffix == ".json":
        result = {
            "machine": machine(),
            "arguments": {k: v for k, v in vars(args).items() if k != "out"},
            "rounds": [
                {
                    "cases": [{**asdict(case), "rate": case.rate} for case in cases],
                    "ratios": ratios(cases),
                }
                for cases in rounds
            ],
        }
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        return
    lines = [f"machine: {machine()}", ""]
    for n, cases in enumerate(rounds, 1):
        lines += [f"round {n}", "", table(cases), ""]
        lines += [f"- {name}: {ratio:.2f}" for name, ratio in ratios(cases).items()]
        lines.append("")
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
