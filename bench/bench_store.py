"""Throughput of the store: readings stored per second, and one day read back.

Generates METERS meters x 49 half-hourly readings (one local day and its closing
boundary), stores them in batches into a fresh SQLite file (or PostgreSQL schema, with
--postgres), then reads the day of a sample of meters back with ``readings_between``
(the raw readings; then of 10 meters), and every meter's day as the export reads it
(``boundary_registers``).

    python bench/bench_store.py [--meters N] [--batch B] [--order time|meter] [--sample S]
        [--postgres postgresql://USER@HOST:PORT/DB]  (a PostgreSQL store in a schema of its
        own, dropped after)
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.intervals import NO_REGISTER
from kenshin.domain.model import Reading
from kenshin.domain.slots import day_slots, zone
from kenshin.ports import Store

DAY = date(2026, 11, 26)


def make_readings(meters: int, order: str) -> tuple[list[Reading], int, int]:
    """One day of boundary readings for ``meters`` meters, and the day's first and last instant.

    ``time`` order is how a live fleet delivers (every meter's reading of one half hour,
    then the next); ``meter`` order is how backlogs arrive (one meter's day at a time).
    """
    slots = day_slots(DAY, zone("Asia/Tokyo"))
    times = list(slots.boundaries)
    ids = [f"M-{n:07d}" for n in range(meters)]
    if order == "time":
        pairs = [(m, i) for i in range(len(times)) for m in range(meters)]
    else:
        pairs = [(m, i) for m in range(meters) for i in range(len(times))]
    # Each sent a few seconds after its time, as units do (the store keeps when).
    readings = [
        Reading(ids[m], times[i], 100_000 + m % 997 + 3 * i, 0, times[i] + 4 + m % 30)
        for m, i in pairs
    ]
    return readings, times[0], times[-1]


def bench_writes(store: Store, readings: list[Reading], batch: int) -> tuple[float, float]:
    """Wall and CPU seconds to store ``readings`` in batches of ``batch``; checks all went in."""
    started, cpu = time.perf_counter(), time.process_time()
    for lo in range(0, len(readings), batch):
        result = store.readings.add_readings(
            readings[lo : lo + batch], received_at=1_800_000_000 + lo
        )
        if result.stored != len(readings[lo : lo + batch]):
            raise SystemExit(f"batch at {lo}: {result}")
    return time.perf_counter() - started, time.process_time() - cpu


def bench_redelivery(store: Store, readings: list[Reading]) -> float:
    """Seconds to take ``readings`` again: all duplicates, so every one is looked up."""
    started = time.perf_counter()
    result = store.readings.add_readings(readings, received_at=1_900_000_000)
    if result.duplicates != len(readings):
        raise SystemExit(f"redelivery: {result}")
    return time.perf_counter() - started


def bench_reads(
    store: Store, meters: int, sample: int, start: int, end: int
) -> tuple[float, float, int]:
    """Wall and CPU seconds to read a sample of meters' day, and how many readings came back."""
    ids = [f"M-{n:07d}" for n in range(0, meters, max(1, meters // sample))][:sample]
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(len(found) for _, found in store.readings.readings_between(ids, start, end))
    return time.perf_counter() - started, time.process_time() - cpu, count


def bench_boundary_reads(store: Store, meters: int, start: int, end: int) -> float:
    """Wall seconds to read every meter's boundary registers (the export's bulk read)."""
    ids = [f"M-{n:07d}" for n in range(meters)]
    started = time.perf_counter()
    fwd, _ = store.readings.boundary_registers(ids, start, (end - start) // 1800)
    found = int((fwd != NO_REGISTER).any(axis=1).sum())
    if found != meters:
        raise SystemExit(f"boundary registers of {found} meters, expected {meters}")
    return time.perf_counter() - started


def run(
    store: Store, args: argparse.Namespace, readings: list[Reading], span: tuple[int, int]
) -> None:
    """Store the readings, store a batch again, read some meters back raw, then every
    meter's boundary registers; print each figure."""
    start, end = span
    wall, cpu = bench_writes(store, readings, args.batch)
    print(f"stored:  {len(readings) / wall:,.0f} readings/s ({wall:.1f} s, CPU {cpu:.1f} s)")
    again = readings[-args.batch :]
    wall = bench_redelivery(store, again)
    print(f"again:   {len(again) / wall:,.0f} readings/s (a batch redelivered)")
    for sample in sorted({min(args.sample, args.meters), min(10, args.meters)}, reverse=True):
        wall, cpu, count = bench_reads(store, args.meters, sample, start, end)
        print(f"read:    {count:,} readings of {sample:,} meters in {wall:.3f} s")
        print(f"         (CPU {cpu:.3f} s)")
    wall = bench_boundary_reads(store, args.meters, start, end)
    print(f"bulk:    boundary registers of {args.meters:,} meters in {wall:.2f} s")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--order", choices=("time", "meter"), default="time")
    parser.add_argument("--sample", type=int, default=1000, help="meters read back raw")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL store instead of SQLite")
    args = parser.parse_args()

    print(f"cpus {os.cpu_count()}, {platform.machine()}, python {platform.python_version()},")
    print(f"sqlite {sqlite3.sqlite_version}, {platform.platform()}")
    print(f"load average at start {os.getloadavg()[0]:.2f} (other work skews wall times)")
    readings, start, end = make_readings(args.meters, args.order)
    print(f"{args.meters:,} meters x 49 = {len(readings):,} readings, batches of {args.batch:,},")
    print(f"{args.order} order")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kenshin.db"
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        store: Store = (
            PostgresStore(f"{args.postgres}?schema={schema}", create=True)
            if args.postgres
            else SqliteStore(path)
        )
        try:
            run(store, args, readings, (start, end))
        finally:
            store.close()
            if args.postgres:
                with psycopg.connect(args.postgres, autocommit=True) as db:
                    db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        if not args.postgres:
            print(f"file:    {path.stat().st_size / 2**20:,.0f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
