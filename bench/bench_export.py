"""Aggregation and export of one day for many meters, from a SQLite or PostgreSQL store.

Stores METERS meters x 49 half-hourly readings (a Tokyo day and its closing
boundary; 10 % of the meters with solar export on the reverse register), then
times reading + aggregating and rendering from the readings as stored, packing
the closed UTC days, the same phases from the packed days, and whole
``export_day`` runs (list the meters, read their boundary registers, compute
every slot, render the CSV, publish it and its manifest). Checks one meter.

    python bench/bench_export.py [--meters N] [--layout wide|long|nem12] [--repeat R]
        [--postgres postgresql://USER@HOST:PORT/DB]  (a PostgreSQL store in a schema of its
        own, dropped after; it packs no days)
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.csvfiles import render_day
from kenshin.domain.model import Customer, Device, Layout, Meter, MeterSpec, Reading
from kenshin.domain.slots import day_slots, zone
from kenshin.ports import Store
from kenshin.services.aggregate import aggregate_day
from kenshin.services.export import ExportSettings, export_day
from kenshin.services.store_upkeep import pack_closed_days

DAY = date(2026, 11, 26)
SPEC = MeterSpec(100_000, 1, 6)


def fill(store: Store, meters: int) -> Customer:
    """A customer with ``meters`` meters and one full day of readings each."""
    customer = Customer("C-BENCH", "Bench")
    store.registry.add_customer(customer)
    store.registry.add_device(Device("U-BENCH", customer.id))
    ids = [f"M-{n:07d}" for n in range(meters)]
    store.registry.save_meters(Meter(m, "U-BENCH", SPEC) for m in ids)
    times = list(day_slots(DAY, zone(customer.timezone)).boundaries)
    for lo in range(0, meters, 1000):
        batch = [
            Reading(m, t, 100_000 + n % 997 + (n % 7) * i, (n % 5) * i if n % 10 == 0 else None)
            for n, m in enumerate(ids[lo : lo + 1000], start=lo)
            for i, t in enumerate(times)
        ]
        store.readings.add_readings(batch, received_at=1_800_000_000)
    return customer


def time_phases(store: Store, customer: Customer, repeat: int, label: str) -> None:
    """Time aggregation and rendering on their own."""
    slots = day_slots(DAY, zone(customer.timezone))
    for run in range(repeat):
        t0 = time.perf_counter()
        days = aggregate_day(store, customer, slots)
        t1 = time.perf_counter()
        rendered = render_day(customer, slots, days, created_at=1_800_000_000)
        t2 = time.perf_counter()
        print(
            f"{label} run {run + 1}: read + aggregate {t1 - t0:.2f} s, render {t2 - t1:.2f} s"
            f" ({len(rendered.content) / 1e6:.1f} MB, {len(days):,} rows)"
        )


def time_exports(store: Store, outbox: LocalOutbox, customer: Customer, repeat: int) -> None:
    """Time whole exports, with VEE (the default), then without. Before each one a late
    reading of another meter, with another value than the one stored (a conflict), makes
    the store repack a day; with VEE its two slots become Q, so each export publishes a
    new revision and its change record. Without VEE the first export turns them back
    to A, and the later ones change nothing."""
    slots = day_slots(DAY, zone(customer.timezone))
    runs = [("VEE", ExportSettings())] * repeat + [("no VEE", ExportSettings(vee=None))] * repeat
    for run, (label, settings) in enumerate(runs):
        now = slots.end + 7 * 3600 + run  # final, and well within the retention
        late = Reading(f"M-{run + 1:07d}", slots.start + 10 * 1800, 1, None)
        store.readings.add_readings([late], now)
        t0, cpu = time.perf_counter(), time.process_time()
        outcome = export_day(store, outbox, customer, DAY, now=now, settings=settings)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
        changed = store.revisions.latest_revision(customer.id, DAY.isoformat())
        print(
            f"export_day {run + 1} ({label}): {wall:.2f} s wall, {cpu:.2f} s CPU,"
            f" revision {outcome.revision}, {outcome.actual_slots:,} slots,"
            f" {getattr(changed, 'changed_slots', 0)} changed"
        )


@contextmanager
def opened(folder: Path, postgres: str | None) -> Iterator[Store]:
    """A new SQLite store in ``folder``, or a PostgreSQL store in a schema of its own at
    ``postgres``, dropped after."""
    if not postgres:
        store: Store = SqliteStore(folder / "kenshin.db")
        try:
            yield store
        finally:
            store.close()
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(f"{postgres}?schema={schema}", create=True)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(postgres, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--layout", choices=[m.value for m in Layout], default="wide")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL store instead of SQLite")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" SQLite {sqlite3.sqlite_version}, load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as folder, opened(Path(folder), args.postgres) as store:
        started = time.perf_counter()
        customer = fill(store, args.meters)
        customer = Customer(customer.id, customer.name, layout=Layout(args.layout))
        print(f"stored {args.meters * 49:,} readings in {time.perf_counter() - started:.1f} s")
        time_phases(store, customer, args.repeat if args.postgres else 1, "readings")
        if not args.postgres:  # PostgreSQL reads a day's readings as they are
            started = time.perf_counter()
            packed = pack_closed_days(store, now=1_800_000_000)
            print(f"packed {packed} UTC days in {time.perf_counter() - started:.2f} s")
            time_phases(store, customer, args.repeat, "packed")
        time_exports(store, LocalOutbox(Path(folder) / "outbox"), customer, args.repeat)
        slots = day_slots(DAY, zone(customer.timezone))
        check = aggregate_day(store, customer, slots).meter_days()[0]
        assert check.values == (0,) * 48, check  # meter 0: register flat all day


if __name__ == "__main__":
    main()
