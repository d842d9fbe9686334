"""The ``simulate`` command: a fleet's messages and the exact energy they should give."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from kenshin.domain.model import DEFAULT_TIMEZONE
from kenshin.domain.simulation import FAULTS, FleetSpec, parse_faults
from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import check_timezone, cli, parse_day
from kenshin.services.simulate import SimulationSummary, write_simulation


def _faults(_ctx: click.Context, _param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return parse_faults(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.command(short_help="Simulate a fleet and its exact energy.")
@click.option(
    "--devices", type=click.IntRange(1, 1_000_000), required=True, help="Number of units."
)
@click.option(
    "--days", type=click.IntRange(1, 366), default=1, show_default=True, help="Days to simulate."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Messages file; the truth and devices files are written beside it.",
)
@click.option(
    "--faults",
    default="",
    callback=_faults,
    help=f"Comma-separated faults, or 'all': {', '.join(FAULTS)}.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files.")
@click.option("--start", callback=parse_day, help="First local day (default: DAYS days ago).")
@click.option(
    "--timezone",
    default=DEFAULT_TIMEZONE,
    show_default=True,
    callback=check_timezone,
    help="Zone of the meters' local days.",
)
def simulate(
    devices: int,
    days: int,
    out: Path,
    faults: frozenset[str],
    seed: int,
    start: date | None,
    timezone: str,
) -> None:
    """Simulate a fleet: JSON lines of messages in OUT, and the exact slot energy beside it."""
    if start is None:
        start = datetime.now(zone(timezone)).date() - timedelta(days=days)
    spec = FleetSpec(devices, days, start, timezone, seed, faults)
    summary = run_simulation(spec, out)
    click.echo(
        f"{summary.messages} messages with {summary.readings} readings from "
        f"{summary.devices} devices ({summary.meters} meters)"
    )
    for path in summary.paths:
        click.echo(f"wrote {path}")


def run_simulation(spec: FleetSpec, out: Path) -> SimulationSummary:
    """Write a simulation with a progress bar on stderr."""
    expected = spec.devices * spec.days * 48
    with click.progressbar(
        length=expected, label="simulating", file=sys.stderr, show_percent=True
    ) as bar:
        return write_simulation(spec, out, progress=bar.update)
