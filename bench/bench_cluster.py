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
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from bench_endpoint import start_kenshin
from cluster_load import Publisher, Site, make_site, register
from cluster_parts import Broker, Database, Meter, cpu_seconds, postgres_pids, wait_for_count
from psycopg import sql

from kenshin.adapters.postgres import PostgresStore

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


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
        meter = Meter(target.pids, target.cpu, tuple(target.marked))
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


def relay(site: Site, logs: Path) -> Case:
    """Mosquitto relaying the load to one subscriber at QoS 1."""
    broker = Broker(site.folder / "broker", site.broker_port, logs / "mosquitto-relay.log")
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
        read_only = f"file:{site.folder / 'kenshin.db'}?mode=ro"
        with closing(sqlite3.connect(read_only, uri=True)) as db:
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
    broker = Broker(site.folder / "broker", site.broker_port, logs / f"mosquitto-{count}.log")
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
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--units", type=int, default=2000, help="simulated units")
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
