"""The ``demo`` command: the first thing to run after installing."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import click

from kenshin.bootstrap import init_project, open_app
from kenshin.domain.model import DEFAULT_TIMEZONE, Customer, Device
from kenshin.domain.simulation import FAULTS, FleetSpec
from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import cli
from kenshin.entrypoints.cli.data import import_stream
from kenshin.entrypoints.cli.registry import ids_from_file
from kenshin.entrypoints.cli.simulation import run_simulation
from kenshin.services.export import export_day, pack_closed_days
from kenshin.services.verify import load_truth, verify_files

DEMO_CUSTOMER = "DEMO"


@cli.command(short_help="Run a whole simulated day in a throw-away folder.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder to create (default: a new temporary folder).",
)
@click.option(
    "--devices",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="Simulated units.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 31),
    default=2,
    show_default=True,
    help="Days ending yesterday.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Simulation seed.")
def demo(directory: Path | None, devices: int, days: int, seed: int) -> None:
    """Simulate a fleet with every fault, import it, export the files and check every slot."""
    directory = directory or Path(tempfile.mkdtemp(prefix="kenshin-demo-"))
    config = init_project(directory)
    click.echo(f"data folder: {directory}")
    first = datetime.now(zone(DEFAULT_TIMEZONE)).date() - timedelta(days=days)
    spec = FleetSpec(devices, days, first, DEFAULT_TIMEZONE, seed, frozenset(FAULTS))
    simulation = run_simulation(spec, directory / "fleet.jsonl")
    click.echo(
        f"simulated {simulation.devices} units with faults {', '.join(FAULTS)}: "
        f"{simulation.messages} messages"
    )
    app = open_app(config)
    try:
        customer = Customer(DEMO_CUSTOMER, "Demo customer")
        app.store.add_customer(customer)
        for device_id in _device_ids(simulation.devices_path):
            app.store.add_device(Device(device_id, DEMO_CUSTOMER))
        summary = import_stream(app, simulation.messages_path)
        click.echo(
            f"imported: {summary.stored} readings stored, {summary.duplicates} duplicates, "
            f"{summary.dead_letters} dead letters"
        )
        now = int(time.time())
        pack_closed_days(app.store, now)
        for offset in range(days):
            outcome = export_day(
                app.store,
                app.outbox,
                customer,
                first + timedelta(days=offset),
                now=now,
                settings=app.export_settings,
            )
            click.echo(f"wrote {app.outbox_dir / DEMO_CUSTOMER / outcome.file_name}")
        check = verify_files(app.outbox, customer, load_truth(simulation.truth_path))
    finally:
        app.close()
    click.echo(
        f"checked {check.slots} slots in {check.files} files against the simulator's truth: "
        f"{check.matched} exact, {len(check.mismatches)} different, "
        f"{check.missing} of the truth without a value"
    )
    if not check.exact:
        raise click.ClickException("\n".join(check.mismatches[:10]) or "slots are missing")
    click.echo(f"next: kenshin --config {config} export --help")


def _device_ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return list(dict.fromkeys(ids_from_file(lines)))
