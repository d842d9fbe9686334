"""A million meters on the embedded SQLite store: storing, the export, bytes on disk, ingest.

Makes a site as ``kenshin init`` does, with CUSTOMERS customers of METERS meters each,
reported by concentrators (units) of CUSTOMERS x METERS / CONNECTIONS meters, and then:

- store: registers them, and stores one Tokyo day (the day before yesterday) and its
  three like days (the same weekday 1, 2 and 3 weeks before, which VEE reads) of
  half-hourly forward registers through ``Store.add_readings`` in time order, as a
  live fleet delivers (batches of BATCH readings, each unit's sent at its own offset
  in the half hour); then packs the closed UTC days as
  the export run does first (``pack_closed_days``; the server does it an hour after
  each day), and settles the days old enough (the like days), as the runs since the
  first of them would have (``settle_old_days``).
- export: ``kenshin export --all --date DAY`` in a process of its own (VEE on, as
  configured by default): its wall time, CPU time and peak memory (max RSS), then
  every slot of every file checked against the registers the bench made. The data
  are clean (no slot is zero, like days alike), so every slot must be ``A`` with
  its exact value.
- disk: the database file with its WAL (after a checkpoint) per meter-day stored, and
  the pages in use (those freed by deletes are kept in the file for its next rows).
- settle: every stored day settled as the export run does four days after a day (its
  packed rows become the record and its readings are deleted), timed; then disk again.
  Run the export phase after it (--phases settle,export) to check the files made from
  settled days.
- mqtt: ``kenshin serve`` on the site; CONNECTIONS units with certificates of the
  site's CA (issuing them is timed) connect, then each publishes one readings
  message of all its meters at the last half hour (QoS 1, PUBACK after commit):
  time from the first PUBLISH to the last PUBACK, the CPU each side used, the
  server's peak memory; then once more (the half hour before) with the server's
  registry cache warm. Every reading is then checked in the database.

    python bench/bench_million.py [--customers 100] [--meters 10000] [--connections 10000]
        [--batch 100000] [--clients 2] [--site DIR] [--phases store,export,disk,settle,mqtt]
        [--profile]

With --site DIR the site is kept there (made by the store phase), so that later
phases can run again on it alone: --site DIR --phases mqtt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path

from million_mqtt import measure_mqtt, proc_memory
from million_plan import (
    SPEC,
    TOKYO,
    WEEKS,
    Plan,
    customer_id,
    device_id,
    meter_id,
    registers,
    steps,
)

from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Device, Meter, Reading
from kenshin.domain.slots import day_slots
from kenshin.services.store_upkeep import SETTLE_DELAY_S, pack_closed_days, settle_old_days

STEP_KWH = ["", "0.100", "0.200", "0.300", "0.400", "0.500", "0.600", "0.700"]
PHASES = ("store", "export", "disk", "settle", "mqtt")


def register_site(store: SqliteStore, plan: Plan) -> None:
    """Customers, their units and their meters."""
    per_customer = plan.connections // plan.customers
    for c in range(plan.customers):
        store.registry.add_customer(Customer(customer_id(c), f"Customer {c}"))
        for u in range(c * per_customer, (c + 1) * per_customer):
            store.registry.add_device(Device(device_id(u), customer_id(c)))
        first = c * plan.meters
        store.registry.save_meters(
            Meter(meter_id(n), device_id(n // plan.per_unit), SPEC)
            for n in range(first, first + plan.meters)
        )


def store_readings(store: SqliteStore, plan: Plan, batch: int) -> int:
    """Every meter's day and like days, oldest first, in time order; how many readings."""
    ids = [meter_id(n) for n in range(plan.total)]
    # Each unit sends at its own offset in the half hour, a few seconds early or late.
    offsets = [(n // plan.per_unit * 977) % 1800 for n in range(plan.total)]
    day = date.fromisoformat(plan.day)
    stored = 0
    for week in reversed(range(WEEKS)):
        grid = registers(0, plan.total, week)
        times = day_slots(day - timedelta(weeks=week), TOKYO).boundaries
        for i, t in enumerate(times):
            column = grid[:, i].tolist()
            for lo in range(0, plan.total, batch):
                part = slice(lo, lo + batch)
                readings = [
                    Reading(m, t, r, None, t + offset + (i + offset) % 7)
                    for m, r, offset in zip(ids[part], column[part], offsets[part], strict=True)
                ]
                result = store.readings.add_readings(readings, received_at=t + 10)
                if result.stored != len(readings):
                    raise SystemExit(f"week {week}, t {t}, meter {lo}: {result}")
                stored += result.stored
        print(f"  week -{week}: {stored:,} readings so far, {clock()}", flush=True)
    return stored


_T0 = time.perf_counter()


def clock() -> str:
    return f"{time.perf_counter() - _T0:,.0f} s into the run"


def phase_store(site: Path, plan: Plan, batch: int) -> None:
    """Make the site, register it, store the readings, pack the closed days."""
    init_project(site)
    (site / "plan.json").write_text(json.dumps(asdict(plan)))
    store = SqliteStore(site / "kenshin.db")
    try:
        started = time.perf_counter()
        register_site(store, plan)
        print(
            f"registered {plan.customers} customers, {plan.connections:,} units,"
            f" {plan.total:,} meters in {time.perf_counter() - started:.1f} s"
        )
        started, cpu = time.perf_counter(), time.process_time()
        stored = store_readings(store, plan, batch)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"stored {stored:,} readings in {wall:,.1f} s: {stored / wall:,.0f} readings/s"
            f" (CPU {cpu:,.1f} s, batches of {batch:,}, load {os.getloadavg()[0]:.2f})"
        )
        started, cpu = time.perf_counter(), time.process_time()
        packed = pack_closed_days(store, now=int(time.time()))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"packed {packed} closed UTC days in {wall:,.1f} s (CPU {cpu:,.1f} s):"
            f" {plan.total * packed / wall:,.0f} meter-days/s"
        )
        settle(store, plan, int(time.time()))  # the like days, as the runs since did
    finally:
        store.close()
    print(f"peak memory of the bench so far: {max_rss_mib(resource.RUSAGE_SELF):,.0f} MiB")


def max_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def kenshin(site: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml"), *args]


def phase_export(site: Path, plan: Plan, profile: bool) -> None:
    """``kenshin export --all --date DAY`` in a process of its own, then every file checked;
    with ``profile``, once more under cProfile, summarised."""
    started = time.perf_counter()
    subprocess.run(kenshin(site, "--help"), check=True, stdout=subprocess.DEVNULL)
    print(f"kenshin --help (starting the command line): {time.perf_counter() - started:.2f} s")
    forget_exports(site, plan)
    load = os.getloadavg()[0]
    wall, cpu, peak = run_export(site, plan)
    print(
        f"kenshin export --all --date {plan.day}: {plan.customers} files of {plan.meters:,}"
        f" meters in {wall:.2f} s wall, CPU {cpu:.2f} s ({cpu / wall:.2f} cores),"
        f" peak memory (VmHWM) {peak / 2**20:,.0f} MiB, load {load:.2f}"
    )
    started = time.perf_counter()
    rows, wrong = check_files(site, plan)
    print(
        f"checked every slot of every file: {rows:,} rows x 48 slots, {wrong} rows wrong"
        f" ({time.perf_counter() - started:.1f} s)"
    )
    if wrong:
        raise SystemExit("the files do not show the readings stored")
    if profile:
        forget_exports(site, plan)
        wall, cpu, _ = run_export(site, plan, "-m", "cProfile", "-o", str(site / "export.prof"))
        print(f"the same under cProfile: {wall:.2f} s wall, CPU {cpu:.2f} s")
        summarise(site / "export.prof")


def forget_exports(site: Path, plan: Plan) -> None:
    """Remove the day's files and revisions of an earlier run: each run makes revision 1."""
    with closing_db(site / "kenshin.db") as db:
        db.execute("DELETE FROM revisions WHERE day = ?", (plan.day,))
    day = date.fromisoformat(plan.day)
    for path in (site / "outbox").glob(f"C-*/C-*_{day:%Y%m%d}.csv*"):
        path.unlink()


def run_export(site: Path, plan: Plan, *python: str) -> tuple[float, float, int]:
    """Run the export (``python`` options before the module); wall and CPU seconds (its
    worker processes' included), and its peak resident memory (VmHWM, read every 20 ms:
    the sum of its own and its workers' peaks; ru_maxrss would not do for a child
    started by vfork, as it counts the parent's)."""
    log = site / "export.out"
    command = kenshin(site, "export", "--all", "--date", plan.day)
    command[1:1] = python
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=out)
        peak, stop = [0], threading.Event()

        def watch() -> None:
            while not stop.wait(0.02):
                with suppress(OSError, RuntimeError):
                    peak[0] = max(peak[0], proc_memory(process.pid, "VmHWM"))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        watcher.join()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"kenshin export failed:\n{log.read_text()[-3000:]}")
    lines = log.read_text().splitlines()
    print(f"  {lines[0]}\n  ... ({len(lines)} lines)")
    return wall, usage.ru_utime + usage.ru_stime, peak[0]


def summarise(path: Path) -> None:
    """The functions that took the most time, own and with what they called."""
    for order in ("tottime", "cumulative"):
        print(f"--- cProfile, by {order}, main thread (the reads run in a thread of their own)")
        pstats.Stats(str(path)).sort_stats(order).print_stats(18)


def check_files(site: Path, plan: Plan) -> tuple[int, int]:
    """Every row of every customer's file against the registers the bench made: the
    meter, the day, each slot's kWh, the total and 48 ``A`` flags; (rows, rows wrong)."""
    day = date.fromisoformat(plan.day)
    rows = wrong = 0
    for c in range(plan.customers):
        name = f"{customer_id(c)}_{day:%Y%m%d}.csv"
        lines = (site / "outbox" / customer_id(c) / name).read_bytes().decode().split("\r\n")
        if not lines[0].startswith("meter,date,direction,00:00,00:30,") or lines[-1]:
            raise SystemExit(f"{name}: not a wide file with a last CRLF: {lines[0][:80]!r}")
        body = lines[1:-1]
        first = c * plan.meters
        use = steps(first, plan.meters, 0)
        totals = use.sum(axis=1).tolist()
        if len(body) != plan.meters:
            raise SystemExit(f"{name}: {len(body)} rows, expected {plan.meters}")
        for n, (line, row, total) in enumerate(zip(body, use.tolist(), totals, strict=True)):
            cells = ",".join(map(STEP_KWH.__getitem__, row))
            expected = (
                f"{meter_id(first + n)},{plan.day},fwd,{cells},"
                f"{total // 10}.{total % 10}00,{'A' * 48}"
            )
            wrong += line != expected
        rows += len(body)
    return rows, wrong


def phase_disk(site: Path, plan: Plan) -> None:
    """The database with its WAL after a checkpoint, per meter-day stored; and the bytes
    of the pages in use (a file keeps the pages its deletes freed for its next rows)."""
    db_path = site / "kenshin.db"
    with closing_db(db_path) as db:
        started = time.perf_counter()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"checkpoint: {time.perf_counter() - started:.1f} s")
        tables = table_sizes(db)
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
    size = sum(p.stat().st_size for p in site.glob("kenshin.db*") if p.is_file())
    meter_days = plan.total * WEEKS
    used = (pages - free) * page
    print(
        f"database with WAL: {size:,} bytes, {meter_days:,} meter-days stored:"
        f" {size / meter_days:,.0f} bytes per meter-day; pages in use {used:,} bytes:"
        f" {used / meter_days:,.0f} bytes per meter-day ({free * page:,} bytes free)"
    )
    for name, table_bytes in tables:
        print(f"  {name}: {table_bytes:,} bytes ({table_bytes / meter_days:,.0f} per meter-day)")
    if free:  # the file a site settling all along would have: no pages freed by deletes
        copy = site / "compacted.db"
        copy.unlink(missing_ok=True)
        with closing_db(db_path) as db:
            started = time.perf_counter()
            db.execute("VACUUM INTO ?", (str(copy),))
        took = time.perf_counter() - started
        compacted = copy.stat().st_size
        copy.unlink()
        print(
            f"the same in a file without free pages (VACUUM INTO, {took:.0f} s):"
            f" {compacted:,} bytes, {compacted / meter_days:,.0f} bytes per meter-day"
        )


def phase_settle(site: Path, plan: Plan) -> None:
    """Settle every stored day as the export run four days after the last one does (the
    packed rows become the record, the readings go), then measure the disk again."""
    end = day_slots(date.fromisoformat(plan.day), TOKYO).end
    last_utc_day_end = -(-end // 86_400) * 86_400
    store = SqliteStore(site / "kenshin.db")
    try:
        settle(store, plan, last_utc_day_end + SETTLE_DELAY_S + 3600)
    finally:
        store.close()
    phase_disk(site, plan)


def settle(store: SqliteStore, plan: Plan, now: int) -> None:
    """Pack and settle the days an export run at ``now`` would, timed."""
    started, cpu = time.perf_counter(), time.process_time()
    pack_closed_days(store, now)
    settled = settle_old_days(store, now, most=1_000)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"settled {settled} UTC days in {wall:,.1f} s (CPU {cpu:,.1f} s):"
        f" {plan.total * settled / max(wall, 1e-9):,.0f} meter-days/s"
    )


@contextmanager
def closing_db(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def table_sizes(db: sqlite3.Connection) -> list[tuple[str, int]]:
    """Bytes of each table and index over 1 MB (SQLite's dbstat), largest first; none
    if this SQLite has no dbstat."""
    try:
        rows = db.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [(name, size) for name, size in rows if size > 1e6]


def main() -> None:
    """Run the phases asked for and print their figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--meters", type=int, default=10_000, help="meters per customer")
    parser.add_argument("--connections", type=int, default=10_000, help="units (concentrators)")
    parser.add_argument("--batch", type=int, default=100_000, help="readings per add_readings")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    profile = "export again under cProfile, and run the server under it"
    parser.add_argument("--profile", action="store_true", help=profile)
    parser.add_argument("--site", type=Path, help="keep the site in DIR (default: a temp dir)")
    parser.add_argument("--phases", default=",".join(PHASES), help="of " + ",".join(PHASES))
    args = parser.parse_args()
    phases = args.phases.split(",")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" SQLite {sqlite3.sqlite_version}, load {os.getloadavg()}"
    )
    with site_folder(args.site) as site:
        if "store" in phases:
            today = datetime.now(TOKYO).date()
            plan = Plan(args.customers, args.meters, args.connections, str(today - timedelta(2)))
            if plan.total % plan.connections or plan.connections % plan.customers:
                raise SystemExit("units must share the meters and customers the units evenly")
            print(f"{plan.total:,} meters, {plan.per_unit} a unit; day {plan.day} and 3 like days")
            phase_store(site, plan, args.batch)
        if not (site / "plan.json").exists():
            raise SystemExit(f"no site in {site}: the store phase makes it (--site DIR keeps it)")
        plan = Plan(**json.loads((site / "plan.json").read_text()))
        if "export" in phases:
            phase_export(site, plan, args.profile)
        if "disk" in phases:
            phase_disk(site, plan)
        if "settle" in phases:
            phase_settle(site, plan)
        if "mqtt" in phases:
            measure_mqtt(site, plan, args.clients, args.profile)
    print(f"done, {clock()}; load {os.getloadavg()}")


@contextmanager
def site_folder(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        yield kept
        return
    folder = Path(tempfile.mkdtemp(prefix="kenshin-million-"))
    try:
        yield folder / "site"
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
