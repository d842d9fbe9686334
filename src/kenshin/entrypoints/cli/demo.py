"""The ``demo`` command: the first thing to run after installing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from kenshin.entrypoints.cli.app import cli
from kenshin.entrypoints.cli.simulation import publish_simulation, run_simulation
from kenshin.sim.demo import DemoPlan, DemoSteps, run_demo


@cli.command(short_help="Run a simulated fleet through a live server in a throw-away folder.")
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
@click.option(
    "--wake-minutes",
    type=click.IntRange(1, 24 * 60),
    default=240,
    show_default=True,
    help="Simulated minutes between a unit's connections.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 1000),
    default=32,
    show_default=True,
    help="Units connected at once.",
)
def demo(
    directory: Path | None, devices: int, days: int, seed: int, wake_minutes: int, connections: int
) -> None:
    """Create a data folder with customer DEMO and its units' certificates, start the
    server on this machine, let a simulated fleet with every fault publish to it over
    MQTT/TLS as fast as it takes, export the files and check every slot."""
    directory = directory or Path(tempfile.mkdtemp(prefix="kenshin-demo-"))
    plan = DemoPlan(directory, devices, days, seed, wake_minutes, connections)
    run_demo(plan, DemoSteps(click.echo, run_simulation, publish_simulation))
