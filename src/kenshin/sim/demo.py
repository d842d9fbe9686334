"""The demo, the first thing to run after installing: a new data folder with customer DEMO
and its units' certificates, the server on this machine, a simulated fleet with every
fault publishing to it over MQTT/TLS as fast as it takes, the day files exported and
every slot checked against the simulator's truth.

The units are spread over the half hour as the server spreads them (``mqtt.report_spread_s``):
each sends at the reporting offset the server's CONNACK tells it, and the demo checks that
every unit was told the offset it sent at. Simulated time runs as fast as the server takes
the messages, so the spread costs the demo no time.

The one module of the simulator that builds and runs the server (kenshin.bootstrap,
kenshin.entrypoints.serve): the demo is the whole of kenshin, end to end.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from kenshin.bootstrap import App, init_project, open_app
from kenshin.config import Settings
from kenshin.domain.model import DEFAULT_TIMEZONE, Customer
from kenshin.domain.slots import zone
from kenshin.domain.spread import report_offset_s
from kenshin.entrypoints.serve import Listener, serve
from kenshin.errors import KenshinError
from kenshin.services.enrolment import Issue, enrol
from kenshin.services.schedule import DayRange, ExportRequest, export_due
from kenshin.sim.faults import FAULTS
from kenshin.sim.files import SimulationSummary, read_devices
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.publish import PublishSummary, Replay, Target
from kenshin.sim.run import published_line
from kenshin.sim.verify import Verification, load_truth, verify_files

DEMO_CUSTOMER = "DEMO"
DEMO_HOST = "127.0.0.1"  # the demo's server is for this machine only

Publish = Callable[[Target, threading.Event], PublishSummary]


class DemoError(KenshinError):
    """The demo did not end as it should: the server stopped, messages were not
    acknowledged, or slots differ from the truth."""


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs: ``devices`` units over ``days`` days ending yesterday, from
    simulation ``seed``, waking every ``wake_minutes``, ``connections`` at once."""

    directory: Path
    devices: int
    days: int
    seed: int
    wake_minutes: int
    connections: int


@dataclass(frozen=True)
class DemoSteps:
    """How the demo shows what it does: ``say`` writes a line; ``simulate`` writes the
    simulation and ``publish`` publishes it, each showing its progress as it likes."""

    say: Callable[[str], None]
    simulate: Callable[[FleetSpec, Path], SimulationSummary]
    publish: Callable[
        [FleetSpec, SimulationSummary, Target, Replay, threading.Event], PublishSummary
    ]


def run_demo(plan: DemoPlan, steps: DemoSteps) -> None:
    """Run the demo (see the module doc); DemoError when it does not end as it should."""
    started = time.monotonic()
    config = init_project(plan.directory)
    with closing(open_app(config)) as opened:
        opened.outbox_dir  # noqa: B018 - ConfigError for an S3 outbox, before anything is run
        spread = opened.settings.mqtt.report_spread_s
    steps.say(f"data folder: {plan.directory}")
    first = datetime.now(zone(DEFAULT_TIMEZONE)).date() - timedelta(days=plan.days)
    faults = frozenset(FAULTS)
    spec = FleetSpec(
        plan.devices, plan.days, first, DEFAULT_TIMEZONE, plan.seed, faults, spread_s=spread
    )
    simulation = steps.simulate(spec, plan.directory / "fleet.jsonl")
    steps.say(
        f"simulated {simulation.devices} units with faults {', '.join(FAULTS)}: "
        f"{simulation.messages} messages"
    )
    steps.say(spread_line(spread))
    app = open_app(config)
    try:
        customer = Customer(DEMO_CUSTOMER, "Demo customer")
        published = _serve_fleet(app, customer, plan, spec, simulation, steps)
        steps.say(f"the server kept {_dead_letters(app, config)}")
        if published.failed:
            raise DemoError(f"{published.failed} messages were not acknowledged")
        for written in export_days(app, customer, first, plan.days):
            steps.say(f"wrote {written}")
        steps.say(f"files in {app.outbox_dir / DEMO_CUSTOMER}:")
        for line in describe_files(app.outbox_dir / DEMO_CUSTOMER):
            steps.say(f"  {line}")
        check = verify_files(app.outbox, customer, load_truth(simulation.truth_path))
    finally:
        app.close()
    steps.say(checked_line(check))
    if not check.exact:
        raise DemoError("\n".join(check.mismatches[:10]) or "slots are missing")
    elapsed = time.monotonic() - started
    steps.say(f"done in {elapsed:.0f} s; the CSV files are in {app.outbox_dir / DEMO_CUSTOMER}")
    steps.say(f"next: kenshin --config {config} export --help")


def _serve_fleet(
    app: App,
    customer: Customer,
    plan: DemoPlan,
    spec: FleetSpec,
    simulation: SimulationSummary,
    steps: DemoSteps,
) -> PublishSummary:
    """Register the fleet's units and serve while they publish: what publishing did."""
    app.settings = local_server(app.settings)
    app.store.registry.add_customer(customer)
    certs = plan.directory / "certs"
    register_units(app, read_devices(simulation.devices_path), certs)
    steps.say(f"registered {simulation.devices} units of {DEMO_CUSTOMER}; certificates in {certs}")

    def publish(target: Target, stop: threading.Event) -> PublishSummary:
        # As fast as the server takes it, each unit waking at its offset in the spread.
        replay = Replay(0, plan.wake_minutes, plan.connections, spread_s=spec.spread_s)
        return steps.publish(spec, simulation, target, replay, stop)

    published, target = asyncio.run(serve_while(app, publish, certs, steps.say))
    steps.say(published_line(published, target))
    steps.say(offsets_line(published, spec.spread_s or 0))
    return published


def spread_line(spread_s: int) -> str:
    """One line saying when the demo's units send in each half hour."""
    if spread_s == 0:
        return "every unit sends at :00 and :30, as the server's CONNACK tells it (0 s spread)"
    return (
        f"each unit sends at its own offset within {spread_s} s of :00 and :30, as the"
        " server's CONNACK tells it (mqtt.report_spread_s)"
    )


def offsets_line(published: PublishSummary, spread_s: int) -> str:
    """One line saying that the units sent at the offsets the server's CONNACK told them;
    DemoError naming the units that did not."""
    told = published.offsets
    differ = sorted(d for d, offset in told.items() if offset != report_offset_s(d, spread_s))
    if differ:
        raise DemoError(
            f"{len(differ)} units sent at another offset than their CONNACK told them:"
            f" {', '.join(differ[:5])}"
        )
    return f"{len(told)} units sent at the reporting offsets the server's CONNACK told them"


def _dead_letters(app: App, config: Path) -> str:
    letters = app.store.dead_letters.count_dead_letters()
    why = f": why, in 'kenshin --config {config} dead-letters'" if letters else ""
    return f"{letters} dead letters{why}"


def checked_line(check: Verification) -> str:
    """One line saying how the files compare with the truth."""
    return (
        f"checked {check.slots} slots in {check.files} files against the simulator's truth: "
        f"{check.matched} exact, {check.estimated} estimated, {len(check.mismatches)} different,"
        f" {check.missing} of the truth without a value"
    )


def export_days(app: App, customer: Customer, first: date, days: int) -> Iterator[Path]:
    """Export ``days`` days of ``customer`` from ``first`` (the export use case, as
    ``kenshin export --from --to`` runs it): the path of each day file written.
    DemoError if a day could not be exported."""
    asked = DayRange(first, first + timedelta(days=days - 1))
    request = ExportRequest((customer.id,), asked, restated=False, remove_expired=False)
    run = export_due(
        app.store, app.outbox, app.export_settings, now=int(time.time()), request=request
    )
    if run.failures:
        raise DemoError(f"the export failed: {run.failures[customer.id]}")
    for outcome in run.outcomes:
        yield app.outbox_dir / customer.id / outcome.file_name


def describe_files(folder: Path) -> Iterator[str]:
    """Every file of the customer's folder, as it would collect them: the day files with
    their revision, and the change record of each restatement."""
    for path in sorted(folder.glob("*.csv")):
        if ".changes." in path.name:
            yield f"{path.name}  change record: the slots changed by this revision"
            continue
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text("utf-8"))
        yield (
            f"{path.name}  revision {manifest['revision']} {manifest['status']},"
            f" {manifest['rows']} rows, {manifest['completeness']} % complete"
        )


def local_server(settings: Settings) -> Settings:
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


def register_units(app: App, ids: list[str], folder: Path) -> None:
    """Enrol the units with the demo customer and write each its certificate and key."""
    issue = Issue(app.certificate_authority(), app.credentials_folder(folder), replace=True)
    enrol(app.store, DEMO_CUSTOMER, ids, now=int(time.time()), issue=issue)


async def serve_while(
    app: App, publish: Publish, certs: Path, say: Callable[[str], None]
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
        raise DemoError("the server stopped before it listened")
    endpoint = listening.result()[0]
    say(f"serving: {endpoint.protocol} on {endpoint.host} port {endpoint.port}")
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
