"""The ``simulate`` command: a fleet's messages and the exact energy they should give,
written to files and, with ``--host``, published live to a device endpoint."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from kenshin.domain.model import DEFAULT_TIMEZONE
from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import check_timezone, cli, parse_day, parse_moment
from kenshin.sim.faults import FAULTS, READING_FAULTS, parse_faults
from kenshin.sim.files import SimulationSummary, write_simulation
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.publish import Progress, PublishSummary, Replay, Target
from kenshin.sim.run import publish_span, publish_written, published_line


def _faults(_ctx: click.Context, _param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return parse_faults(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _speed(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    if value.strip().lower() == "max":
        return 0.0
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if not speed >= 0:  # also refuses nan
        raise click.BadParameter(f"{value!r}: give a number of 0 or more, or 'max'")
    return speed


@cli.command(short_help="Simulate a fleet and its exact energy; publish it live.")
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
    help=(
        f"Comma-separated faults, or 'all': {', '.join(FAULTS)}; and, by name only (their"
        f" readings are wrong, so files flag them and differ from the truth):"
        f" {', '.join(READING_FAULTS)}."
    ),
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
@click.option(
    "--spread",
    type=click.IntRange(0, 1800),
    metavar="SECONDS",
    help="Each unit sends its half hour's message at its own offset within this window,"
    " as the endpoint's CONNACK tells it (1800: the whole half hour); default: at :00 and"
    " :30, all at once.",
)
@click.option("--host", help="Also publish the messages live to the endpoint on this host.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8883, show_default=True, help="Its port."
)
@click.option(
    "--certs",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --host: the folder of 'kenshin devices add --out' (ID.pem, ID.key, ca.pem).",
)
@click.option(
    "--speed",
    default="1440",
    show_default=True,
    metavar="S|max",
    callback=_speed,
    help="With --host: simulated time runs this many times faster (1440: a day a minute);"
    " 0 or 'max': as fast as the endpoint takes it.",
)
@click.option(
    "--wake-minutes",
    type=click.IntRange(1, 24 * 60),
    default=30,
    show_default=True,
    help="With --host: a unit connects, publishes what is due and disconnects this often.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 1000),
    default=16,
    show_default=True,
    help="With --host: units connected at once.",
)
@click.option(
    "--publish-from",
    metavar="YYYY-MM-DDTHH:MM",
    help="With --host: only the wakes from this time (in --timezone) publish; the others'"
    " messages never get through, but the units keep them (see --answer-commands).",
)
@click.option(
    "--publish-until",
    metavar="YYYY-MM-DDTHH:MM",
    help="With --host: only the wakes before this time (in --timezone) publish.",
)
@click.option(
    "--answer-commands",
    is_flag=True,
    help="With --host: each unit subscribes to its commands at every wake and answers"
    " each resend once, publishing again its messages that hold readings of the range.",
)
def simulate(
    devices: int,
    days: int,
    out: Path,
    faults: frozenset[str],
    seed: int,
    start: date | None,
    timezone: str,
    spread: int | None,
    host: str | None,
    port: int,
    certs: Path | None,
    speed: float,
    wake_minutes: int,
    connections: int,
    publish_from: str | None,
    publish_until: str | None,
    answer_commands: bool,
) -> None:
    """Simulate a fleet: JSON lines of messages in OUT, and the exact slot energy beside it.

    With --host and --certs, each unit then also publishes its messages to that endpoint
    over MQTT/TLS (QoS 1) the way a battery unit does: it wakes every --wake-minutes of
    simulated time, connects, publishes what is due, waits for every PUBACK and
    disconnects; what is not acknowledged goes again at its next wake. With
    --answer-commands the units also answer 'kenshin devices resend' and gap recovery.
    """
    if (host is None) != (certs is None):
        raise click.UsageError("--host and --certs go together: the endpoint and the unit files")
    if start is None:
        start = datetime.now(zone(timezone)).date() - timedelta(days=days)
    since, until = _window(publish_from, publish_until, timezone)
    spec = FleetSpec(devices, days, start, timezone, seed, faults, spread_s=spread)
    summary = run_simulation(spec, out)
    click.echo(
        f"{summary.messages} messages with {summary.readings} readings from "
        f"{summary.devices} devices ({summary.meters} meters)"
    )
    for path in summary.paths:
        click.echo(f"wrote {path}")
    if host is not None and certs is not None:
        target = Target(host, port, certs)
        replay = Replay(speed, wake_minutes, connections, since, until, answer_commands, spread)
        published = publish_simulation(spec, summary, target, replay)
        click.echo(published_line(published, target))
        if published.failed:
            raise click.ClickException(
                f"{published.failed} messages were not acknowledged: see the warnings above"
            )


def _window(
    publish_from: str | None, publish_until: str | None, timezone: str
) -> tuple[int | None, int | None]:
    """The wakes that publish, from and before (UTC epoch s; None: no bound)."""
    since = _moment(publish_from, timezone, "--publish-from")
    until = _moment(publish_until, timezone, "--publish-until")
    if since is not None and until is not None and since >= until:
        raise click.UsageError("--publish-from must be before --publish-until")
    return since, until


def _moment(value: str | None, timezone: str, option: str) -> int | None:
    """``value`` (a local time in ``timezone``, unless it has its own UTC offset) as UTC
    epoch seconds; None for None."""
    return None if value is None else int(parse_moment(value, zone(timezone), option).timestamp())


def run_simulation(spec: FleetSpec, out: Path) -> SimulationSummary:
    """Write a simulation with a progress bar on stderr."""
    expected = spec.devices * spec.days * 48
    with click.progressbar(
        length=expected, label="simulating", file=sys.stderr, show_percent=True
    ) as bar:
        return write_simulation(spec, out, progress=bar.update)


def publish_simulation(
    spec: FleetSpec,
    simulation: SimulationSummary,
    target: Target,
    replay: Replay,
    stop: threading.Event | None = None,
) -> PublishSummary:
    """Publish a written simulation's messages to ``target``, with a progress bar on stderr
    showing the simulated time reached and the messages acknowledged; ``stop`` ends it."""
    first, last = publish_span(spec, replay)

    def show(reached: Progress | None) -> str:
        if reached is None or not reached.simulated:
            return ""
        moment = datetime.fromtimestamp(reached.simulated, UTC).astimezone(zone(spec.timezone))
        return f"{moment:%Y-%m-%d %H:%M} {reached.acknowledged} acknowledged"

    with click.progressbar(
        length=last - first, label="publishing", file=sys.stderr, item_show_func=show
    ) as bar:

        def progress(reached: Progress) -> None:
            bar.update(max(0, min(reached.simulated, last) - first - bar.pos), reached)

        published = publish_written(simulation, target, replay, progress, stop)
        bar.update(last - first - bar.pos)  # the last wakes may end before the bar does
        return published
