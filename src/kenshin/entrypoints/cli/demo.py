"""The ``demo`` command: the first thing to run after installing."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from kenshin.adapters.pki import PKI_FOLDER, LocalCertificateAuthority
from kenshin.adapters.pki_files import write_device_files
from kenshin.bootstrap import App, init_project, open_app
from kenshin.config import Settings
from kenshin.domain.model import DEFAULT_TIMEZONE, Customer, Device
from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import cli
from kenshin.entrypoints.cli.registry import ids_from_file
from kenshin.entrypoints.cli.simulation import publish_simulation, published_line, run_simulation
from kenshin.entrypoints.serve import Listener, serve
from kenshin.services.export import export_day, pack_closed_days
from kenshin.sim.faults import FAULTS
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.publish import PublishSummary, Replay, Target
from kenshin.sim.verify import load_truth, verify_files

DEMO_CUSTOMER = "DEMO"
DEMO_HOST = "127.0.0.1"  # the demo's server is for this machine only


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
    started = time.monotonic()
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
        app.settings = _local_server(app.settings)
        customer = Customer(DEMO_CUSTOMER, "Demo customer")
        app.store.add_customer(customer)
        certs = directory / "certs"
        _register(app, _device_ids(simulation.devices_path), certs)
        click.echo(
            f"registered {simulation.devices} units of {DEMO_CUSTOMER}; certificates in {certs}"
        )

        def publish(target: Target, stop: threading.Event) -> PublishSummary:
            replay = Replay(0, wake_minutes, connections)  # as fast as the server takes it
            return publish_simulation(spec, simulation, target, replay, stop)

        published, target = asyncio.run(_serve_while(app, publish, certs))
        click.echo(published_line(published, target))
        letters = app.store.count_dead_letters()
        why = f": why, in 'kenshin --config {config} dead-letters'" if letters else ""
        click.echo(f"the server kept {letters} dead letters{why}")
        if published.failed:
            raise click.ClickException(f"{published.failed} messages were not acknowledged")
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
        _show_files(app.outbox_dir / DEMO_CUSTOMER)
        check = verify_files(app.outbox, customer, load_truth(simulation.truth_path))
    finally:
        app.close()
    click.echo(
        f"checked {check.slots} slots in {check.files} files against the simulator's truth: "
        f"{check.matched} exact, {check.estimated} estimated, {len(check.mismatches)} different,"
        f" {check.missing} of the truth without a value"
    )
    if not check.exact:
        raise click.ClickException("\n".join(check.mismatches[:10]) or "slots are missing")
    elapsed = time.monotonic() - started
    click.echo(f"done in {elapsed:.0f} s; the CSV files are in {app.outbox_dir / DEMO_CUSTOMER}")
    click.echo(f"next: kenshin --config {config} export --help")


def _show_files(folder: Path) -> None:
    """Every file of the customer's folder, as it would collect them: the day files with
    their revision, and the change record of each restatement."""
    click.echo(f"files in {folder}:")
    for path in sorted(folder.glob("*.csv")):
        if ".changes." in path.name:
            click.echo(f"  {path.name}  change record: the slots changed by this revision")
            continue
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text("utf-8"))
        click.echo(
            f"  {path.name}  revision {manifest['revision']} {manifest['status']},"
            f" {manifest['rows']} rows, {manifest['completeness']} % complete"
        )


def _local_server(settings: Settings) -> Settings:
    """The demo's server: on this machine only, on a free port, without file servers
    (no customer collects the demo's files), the HTTP side, alerts or the report."""
    mqtt = settings.mqtt.model_copy(update={"host": DEMO_HOST, "port": 0})
    off = {"enabled": False}
    return settings.model_copy(
        update={"mqtt": mqtt}
        | {
            section: getattr(settings, section).model_copy(update=off)
            for section in ("ftps", "sftp", "http", "alerts", "report")
        }
    )


def _register(app: App, ids: list[str], folder: Path) -> None:
    """Add the units to the demo customer and write each its certificate and key."""
    authority = LocalCertificateAuthority.load(app.data_dir / PKI_FOLDER)
    authority.export_cert(folder)
    now = int(time.time())
    for device_id in ids:
        app.store.add_device(Device(device_id, DEMO_CUSTOMER))
        issued = authority.issue_device(device_id, now=now)
        app.store.add_certificate(device_id, issued.serial, issued.not_after, now)
        write_device_files(folder, device_id, issued)


async def _serve_while(
    app: App, publish: Callable[[Target, threading.Event], PublishSummary], certs: Path
) -> tuple[PublishSummary, Target]:
    """Run the server (in this thread: it handles the signals) while ``publish`` runs in
    another; stop it once every acknowledged message is committed. A signal that stops the
    server stops publishing too."""
    stop_server, stop_publishing = asyncio.Event(), threading.Event()
    listening: asyncio.Future[list[Listener]] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(app, on_listening=listening.set_result, stop=stop_server))
    first: list[asyncio.Future[Any]] = [server, listening]
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if not listening.done():
        await server  # it ended before listening: its error says why
        raise click.ClickException("the server stopped before it listened")
    endpoint = listening.result()[0]
    click.echo(f"serving: {endpoint.protocol} on {endpoint.host} port {endpoint.port}")
    target = Target(endpoint.host, endpoint.port, certs)
    publishing = asyncio.ensure_future(asyncio.to_thread(publish, target, stop_publishing))
    # A signal sets the server's stop event: the units stop too, before the server is gone.
    signalled = asyncio.create_task(stop_server.wait())
    signalled.add_done_callback(lambda _: stop_publishing.set())
    try:
        return await publishing, target
    finally:
        stop_server.set()
        await asyncio.gather(publishing, return_exceptions=True)
        await server


def _device_ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return list(dict.fromkeys(ids_from_file(lines)))
