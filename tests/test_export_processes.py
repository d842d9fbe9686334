"""Exports made in worker processes (``export.processes``): the same files, byte for byte,
as made in one process; the customers a dead worker left are made in new workers, and
fail alone if they are left again, the next run making their files."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import make_site
from kenshin.bootstrap import App, open_app
from kenshin.config import Settings
from kenshin.domain.model import Customer, Device, Meter, MeterSpec, Reading
from kenshin.domain.slots import day_slots, zone
from kenshin.export_processes import ExportProcesses
from kenshin.services.export import ExportOutcome, ExportSettings
from kenshin.services.export_jobs import ExportJob, OnOutcome
from kenshin.services.schedule import DayRange, ExportRequest, ExportRun, export_due
from kenshin.worker_processes import cores

pytestmark = pytest.mark.integration

TOKYO = zone("Asia/Tokyo")
FIRST, LAST = date(2026, 11, 24), date(2026, 11, 26)
NOW = day_slots(LAST, TOKYO).end + 7 * 3600  # every day final
SPEC = MeterSpec(unit_mwh=100_000, coefficient=1, digits=6)  # 0.1 kWh steps
CUSTOMERS = [f"C-00{n}" for n in range(1, 7)]
ASKED = ExportRequest((), DayRange(FIRST, LAST), restated=False, remove_expired=False)


def fill(app: App) -> None:
    """Six customers of three meters, with three weeks of readings before the days (the
    like days VEE reads) and gaps on the days, so that VEE estimates some slots."""
    registry = app.store.registry
    for n, customer in enumerate(CUSTOMERS):
        if registry.get_customer(customer) is None:
            registry.add_customer(Customer(customer, f"Customer {n}"))
        registry.add_device(Device(f"U-{customer}", customer))
        registry.save_meters(Meter(f"M-{customer}-{m}", f"U-{customer}", SPEC) for m in range(3))
    start = day_slots(FIRST - timedelta(weeks=3), TOKYO).start
    first = day_slots(FIRST, TOKYO).start
    end = day_slots(LAST, TOKYO).end
    readings = [
        Reading(f"M-{customer}-{m}", t, register(m, (t - start) // 1800), None)
        for customer in CUSTOMERS
        for m in range(3)
        for t in range(start, end + 1, 1800)
        if not (m == 1 and t >= first and t % 86_400 in range(3600, 3 * 3600))  # a gap
    ]
    app.store.readings.add_readings(readings, NOW - 3600)


def register(meter: int, index: int) -> int:
    """The register of a meter at the index-th boundary: 0.3 or 0.4 kWh a slot."""
    return 1_000 + meter + 3 * index + index // 7


@pytest.fixture
def sites(tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of one site with every customer's readings."""
    site = make_site(tmp_path, "one")
    app = open_app(site / "kenshin.toml")
    try:
        fill(app)
    finally:
        app.close()
    other = tmp_path / "other"
    shutil.copytree(site, other)
    return site, other


def workers(app: App) -> ExportProcesses:
    return ExportProcesses(app.settings, app.data_dir, app.export_settings, 2, min_meter_days=0)


def export(
    app: App, elsewhere: ExportProcesses | None, seen: OnOutcome = lambda _: None
) -> ExportRun:
    """The days asked for of every customer, made ``elsewhere`` or in this process."""
    return export_due(
        app.store,
        app.outbox,
        app.export_settings,
        now=NOW,
        request=ASKED,
        on_outcome=seen,
        elsewhere=elsewhere,
    )


def files(site: Path) -> dict[str, bytes]:
    """The published files; not a temporary a killed worker may have left (a dot name, never
    listed, cleared at the customer's next publish once stale)."""
    outbox = site / "outbox"
    return {
        str(p.relative_to(outbox)): p.read_bytes()
        for p in outbox.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def listed(app: App) -> int:
    """How many files the customers' listings show (what FTPS and SFTP serve)."""
    return sum(len(app.outbox.list_files(c)) for c in CUSTOMERS)


def test_files_made_in_worker_processes_are_those_made_in_one(
    sites: tuple[Path, Path],
) -> None:
    here, there = sites
    seen: list[ExportOutcome] = []
    for site, processes in ((here, False), (there, True)):
        app = open_app(site / "kenshin.toml")
        try:
            run = export(app, workers(app) if processes else None, seen.append)
        finally:
            app.close()
        assert run.failures == {}
        assert sorted((o.customer, o.day) for o in run.outcomes) == [
            (c, FIRST + timedelta(days=d)) for c in CUSTOMERS for d in range(3)
        ]
    made_here, made_there = files(here), files(there)
    assert len(made_here) == 2 * 18  # a file and its manifest a customer's day
    assert made_there == made_here
    estimated = [o.estimated_slots for o in seen]
    assert min(estimated) > 0, "VEE estimated the gaps in the workers too"
    assert sorted(seen[:18], key=repr) == sorted(seen[18:], key=repr)  # each day seen once


def killer(rounds: int) -> tuple[list[int], OnOutcome]:
    """Who kills the running workers (SIGKILL) as a customer's day comes back, those of up
    to ``rounds`` pools (new workers each); and the pids killed."""
    killed: list[int] = []
    pools = [0]

    def kill(_: ExportOutcome) -> None:
        workers = [w.pid for w in multiprocessing.active_children() if w.pid not in killed]
        if workers and pools[0] < rounds:
            pools[0] += 1
            for pid in workers:
                killed.append(pid or 0)
                os.kill(pid or 0, signal.SIGKILL)

    return killed, kill


def test_the_customers_a_dead_worker_left_are_made_in_new_workers(
    sites: tuple[Path, Path],
) -> None:
    site, _ = sites
    app = open_app(site / "kenshin.toml")
    try:
        killed, kill = killer(1)
        run = export(app, workers(app), kill)
        assert len(killed) == 2
        assert run.failures == {}
        assert len(run.outcomes) == 18
        assert app.store.alerts.export_failures() == []
        assert listed(app) == 2 * 18
    finally:
        app.close()
    assert len(files(site)) == 2 * 18


def test_workers_dead_again_fail_their_customers_alone_and_the_next_run_makes_them(
    sites: tuple[Path, Path],
) -> None:
    site, _ = sites
    app = open_app(site / "kenshin.toml")
    try:
        killed, kill = killer(2)
        run = export(app, workers(app), kill)
        assert len(killed) == 4  # two pools of two
        made = {o.customer for o in run.outcomes}
        assert made, "the customers done before are kept"
        assert run.failures, "the customers left twice fail"
        assert set(run.failures) == set(CUSTOMERS) - made
        for why in run.failures.values():
            assert why.startswith("the export process failed: BrokenProcessPool")
        noted = {f.customer: f.day for f in app.store.alerts.export_failures()}
        assert noted == dict.fromkeys(run.failures, FIRST.isoformat())
        again = export(app, workers(app))
        assert again.failures == {}
        assert app.store.alerts.export_failures() == []
        assert listed(app) == 2 * 18
    finally:
        app.close()
    assert len(files(site)) == 2 * 18


def test_worker_processes_take_a_run_big_enough_for_them() -> None:
    customer = Customer("C-001", "Example")
    job, other = ExportJob(customer, (FIRST,)), ExportJob(customer, (FIRST, LAST))

    def takes(processes: int, jobs: list[ExportJob], meters: int) -> bool:
        pool = ExportProcesses(Settings(), Path("site"), ExportSettings(), processes)
        return pool.takes(jobs, meters)

    assert not takes(2, [job], 1_000_000)  # one customer: nothing to share
    assert not takes(2, [job, ExportJob(customer, ())], 1_000_000)  # one with days
    assert not takes(1, [job, job], 1_000_000)  # one process: this one
    assert not takes(2, [job, job], 99_999)  # starting workers costs more
    assert takes(2, [job, job], 100_000)
    assert takes(2, [job, other], 50_000)  # two days of 50,000 meters


def test_the_settings_choose_where_files_are_made(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    per_core = ExportProcesses if cores() > 1 else None
    for environ, expected in (
        ({"KENSHIN_EXPORT__PROCESSES": "1"}, None),
        ({"KENSHIN_EXPORT__PROCESSES": "2"}, ExportProcesses),
        ({}, per_core),
        ({"KENSHIN_EXPORT__PROCESSES": "2", "KENSHIN_STORE__BACKEND": "memory"}, None),
    ):
        app = open_app(site / "kenshin.toml", environ=environ)
        try:
            made = app.export_elsewhere()
        finally:
            app.close()
        assert made is None if expected is None else isinstance(made, expected), environ
