"""Replay: every revision of every file of a 30-day simulated run, made again from the
stored readings as of when it was published, is byte for byte what was published,
though later readings (backlogs that restated days) came in since; and the settings
it was made with count, not those of now."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import kenshin, make_site
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Customer, Device, FileRevision, Meter, MeterSpec, Reading
from kenshin.domain.slots import day_slots, zone
from kenshin.ports import Store
from kenshin.services.export import ExportSettings, export_day
from kenshin.services.ingest import Incoming, Ingest
from kenshin.services.replay import ReplayError, replay, revisions_of
from kenshin.services.schedule import LateReadings, export_due
from kenshin.sim.faults import FAULTS, READING_FAULTS
from kenshin.sim.fleet import FleetSpec, fleet_meters
from kenshin.sim.transmission import fleet_arrivals
from test_export import _MemoryOutbox

START = date(2026, 9, 1)
DAYS = 30
SPEC = FleetSpec(12, DAYS, START, seed=11, faults=frozenset(FAULTS + READING_FAULTS))
TZ = zone("Asia/Tokyo")
CUSTOMER = Customer("C1", "First")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "k.db")
    yield opened
    opened.close()


def run(store: Store, outbox: LocalOutbox) -> int:
    """The fleet's messages taken in as they arrive, with the server's export run every
    6 hours (closed days packed, due days exported, final after 6 h; final days found
    unchanged remembered across runs, as serve does); how many runs."""
    store.registry.add_customer(CUSTOMER)
    for device in {m.device for m in fleet_meters(SPEC)}:
        store.registry.add_device(Device(device, CUSTOMER.id))
    ingest = Ingest(store)
    settings, late = ExportSettings(), LateReadings()
    pending: list[Incoming] = []
    next_run = day_slots(START, TZ).start + 6 * 3600
    runs = 0
    for at, line in fleet_arrivals(SPEC):
        while at >= next_run:
            ingest.ingest(pending)
            pending = []
            export_due(store, outbox, settings, now=next_run, late=late)
            next_run += 6 * 3600
            runs += 1
        pending.append(Incoming(f"sim:{at}:{len(pending)}", line.encode(), at))
    ingest.ingest(pending)
    for _ in range(8):  # two more days: the last days final, late backlogs restated
        export_due(store, outbox, settings, now=next_run, late=late)
        next_run += 6 * 3600
        runs += 1
    return runs


@pytest.mark.integration
def test_every_revision_of_a_30_day_run_replays_byte_for_byte(store: Store, tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path / "outbox")
    assert run(store, outbox) > 4 * DAYS
    days = [START + timedelta(days=n) for n in range(DAYS)]
    revisions = [r for day in days for r in revisions_of(store, CUSTOMER.id, day, every=True)]
    assert len(revisions) > 2 * DAYS  # provisional ones, final ones, restatements
    assert any(r.changed_slots for r in revisions)  # late data restated some
    assert all(r.as_of is not None for r in revisions)
    for revision in revisions:  # readings stored after a revision must not leak into it
        replayed = replay(store, revision)
        assert replayed.identical, (revision.file_name, revision.revision)
    newest = revisions_of(store, CUSTOMER.id, days[-1])[0]
    assert replay(store, newest).content == outbox.read(CUSTOMER.id, newest.file_name)


def test_a_revision_from_before_replay_was_possible_says_so() -> None:
    store = MemoryStore()
    store.registry.add_customer(CUSTOMER)
    old = FileRevision("C1", "2026-09-01", 1, "final", "C1.csv", "0" * 64, "0", 0, 0, 0, 0)
    store.revisions.add_revision(old)
    with pytest.raises(ReplayError, match="made before kenshin kept what a file is made from"):
        replay(store, revisions_of(store, CUSTOMER.id, START)[0])


def test_kenshin_replay_checks_the_published_file_and_says_it_is_identical(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    fleet = site / "fleet.jsonl"
    simulated = kenshin(
        site,
        "simulate",
        "--devices",
        "1",
        "--days",
        "1",
        "--start",
        "2026-11-01",
        "--out",
        str(fleet),
        "--seed",
        "2",
    )
    assert simulated.exit_code == 0, simulated.output
    assert kenshin(site, "import", str(fleet)).exit_code == 0
    assert kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-01").exit_code == 0
    # VEE is turned off later: the replay uses the settings the file was made with.
    config = site / "kenshin.toml"
    config.write_text(
        config.read_text().replace("vee.md.\nenabled = true", "vee.md.\nenabled = false")
    )
    assert "enabled = false" in config.read_text()
    done = kenshin(
        site,
        "replay",
        "--customer",
        "C-001",
        "--date",
        "2026-11-01",
        "--out",
        str(tmp_path / "again.csv"),
    )
    assert done.exit_code == 0, done.output
    assert "C-001_20261101.csv revision 1 (" in done.output
    assert ": identical, sha256 " in done.output
    published = site / "outbox" / "C-001" / "C-001_20261101.csv"
    assert (tmp_path / "again.csv").read_bytes() == published.read_bytes()
    missing = kenshin(site, "replay", "--customer", "C-001", "--date", "2026-11-02")
    assert missing.exit_code == 1
    assert "customer 'C-001' has no file of 2026-11-02" in missing.output
    wrong = kenshin(
        site, "replay", "--customer", "C-001", "--date", "2026-11-01", "--revision", "5"
    )
    assert wrong.exit_code == 1
    assert "has revisions 1 to 1, not 5" in wrong.output


def test_a_revision_replays_identically_after_a_meters_own_demand_changed() -> None:
    store = MemoryStore()
    store.registry.add_customer(CUSTOMER)
    store.registry.add_device(Device("U-1", "C1"))
    spec = MeterSpec(100_000, 1, 6)
    store.registry.save_meters([Meter("M-1", "U-1", spec, max_demand_w=10_000_000)])
    day = day_slots(START, TZ)
    # The register wraps from 999,990 to 10 (2 kWh): a rollover under 10 MW, a reset under 1 kW.
    store.readings.add_readings(
        [Reading("M-1", day.start, 999_990, None), Reading("M-1", day.start + 1800, 10, None)], 0
    )
    outbox = _MemoryOutbox()
    export_day(store, outbox, CUSTOMER, START, now=day.end + 86_400)
    store.registry.save_meters([Meter("M-1", "U-1", spec, max_demand_w=1_000)])
    [revision] = revisions_of(store, CUSTOMER.id, START)
    assert replay(store, revision).identical


def test_a_revision_made_under_older_rules_says_so_not_differs() -> None:
    store = MemoryStore()
    store.registry.add_customer(CUSTOMER)
    store.registry.add_device(Device("U-1", "C1"))
    store.registry.save_meters([Meter("M-1", "U-1", MeterSpec(100_000, 1, 6))])  # silent all day
    export_day(store, _MemoryOutbox(), CUSTOMER, START, now=day_slots(START, TZ).end + 86_400)
    [made_now] = revisions_of(store, CUSTOMER.id, START)
    assert replay(store, made_now).identical
    # As a kenshin of rules version 1 wrote it: a row without values totalled 0.000, and
    # its made_with says no rules version.
    made = json.loads(made_now.made_with)
    made.pop("rules", None)
    store.revisions.add_revision(
        replace(made_now, revision=2, sha256="0" * 64, made_with=json.dumps(made, sort_keys=True))
    )
    [older] = revisions_of(store, CUSTOMER.id, START)
    replayed = replay(store, older)
    assert not replayed.identical
    assert replayed.rules == 1
    assert replayed.older_rules is not None
    assert "a wide row without values has an empty total" in replayed.older_rules


def test_kenshin_replay_of_a_revision_under_older_rules_exits_3(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    fleet = site / "fleet.jsonl"
    args = ["--days", "1", "--start", "2026-11-01", "--out", str(fleet), "--seed", "2"]
    assert kenshin(site, "simulate", "--devices", "1", *args).exit_code == 0
    assert kenshin(site, "import", str(fleet)).exit_code == 0
    assert kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-01").exit_code == 0
    [database] = site.glob("*.db")
    with closing(sqlite3.connect(database)) as db, db:  # as an older kenshin recorded it
        db.execute(
            "UPDATE revisions SET sha256 = ?, made_with = json_remove(made_with, '$.rules')",
            ("0" * 64,),
        )
    done = kenshin(site, "replay", "--customer", "C-001", "--date", "2026-11-01")
    assert done.exit_code == 3, done.output
    assert "made by an older kenshin under older rules (version 1)" in done.output
    assert "DIFFERS" not in done.output
