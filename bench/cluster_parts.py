"""The parts of bench_cluster.py that measure and that run the servers: CPU time of
processes and of the machine (/proc), a count polled until it is reached, Mosquitto on
``kenshin broker-config``'s configuration, a PostgreSQL database of the run's own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

TICKS = os.sysconf("SC_CLK_TCK")
STALL_S = 60.0  # nothing more stored or relayed for this long: the case ends incomplete
PG_WRITERS = ("walwriter", "checkpointer", "background writer")


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

    def __init__(
        self,
        pids: Callable[[], dict[str, list[int]]],
        cpu: Callable[[int], float] = cpu_seconds,
        marked: tuple[int, ...] = (),
    ) -> None:
        self._pids = pids  # the processes measured, by name
        self._cpu = cpu
        self._marked = marked  # under thread_profile.py: told of the start and the end
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
    """Mosquitto on the configuration ``kenshin broker-config`` wrote in ``broker``
    (listening on ``port``), with no sessions nor messages from before."""

    def __init__(self, broker: Path, port: int, log: Path) -> None:
        shutil.rmtree(broker / "data", ignore_errors=True)
        (broker / "data").mkdir()
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                ["mosquitto", "-c", str(broker / "mosquitto.conf")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = port
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
