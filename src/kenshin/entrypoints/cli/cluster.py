"""The cluster's commands: ``kenshin worker`` and ``kenshin cluster status|forget``."""

from __future__ import annotations

import asyncio
import re

import click

from kenshin.domain.cluster import cluster_state
from kenshin.entrypoints.cli.app import cli, echo_listeners, opened
from kenshin.entrypoints.cli.listing import json_option, moment, show
from kenshin.entrypoints.worker import default_name, work

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    name = value or default_name()
    if not NAME.fullmatch(name):
        raise click.BadParameter(
            f"{name!r}: expected 1 to 64 letters, digits, '.', '_' or '-', starting with a"
            " letter or digit (it is the worker's client id at the broker)"
        )
    return name


@cli.command("worker", short_help="Run a worker of a cluster: broker, PostgreSQL, schedule.")
@click.option(
    "--name",
    callback=_name,
    help="The worker's name and client id at the broker [default: worker-<host name>];"
    " start it again under the same name.",
)
@click.option(
    "--retire",
    is_flag=True,
    help="Take the worker out for good: leave the shared subscriptions, store what its"
    " session at the broker holds, end the session and exit.",
)
@click.pass_context
def worker_command(ctx: click.Context, name: str, retire: bool) -> None:
    """Read the units' messages from the MQTT broker of broker.url (a shared subscription:
    the broker spreads them over every worker), store them in the PostgreSQL store of
    store.url and acknowledge each to the broker once stored. One worker at a time leads
    and runs the exports, alerts, daily report and commands to units; another takes over
    when it stops. On localhost, HTTP serves /metrics, /healthz and /readyz.

    Stops cleanly on SIGTERM or Ctrl-C: what was received is stored and acknowledged first.
    A worker's session at the broker keeps its share of the messages while it is away:
    start it again under its name, or retire it with --retire (after stopping it).
    """

    with opened(ctx) as app:
        app.check_worker()  # before anything starts: a store and a broker for a cluster
        click.echo(f"worker {name}: broker {app.settings.broker.url}")
        asyncio.run(work(app, name, on_listening=echo_listeners, retire=retire))
    click.echo("retired: its session is ended" if retire else "stopped")


@cli.group("cluster")
def cluster_group() -> None:
    """The processes of a cluster, as their heartbeats in the store tell."""


@cluster_group.command("status")
@json_option
@click.pass_context
def cluster_status(ctx: click.Context, as_json: bool) -> None:
    """Show every process: alive or silent, the leader, messages waiting and the lag.
    Exits 1 when something is wrong (no leader, fewer workers than cluster.workers)."""
    with opened(ctx) as app:
        members, _ = app.cluster()
        found, now = members.list_members()
        settings = app.settings.cluster
    state = cluster_state(
        found, now=now, heartbeat_s=settings.heartbeat_s, workers_expected=settings.workers
    )
    alive = {m.name for m in state.alive}
    records = [
        {
            "name": m.name,
            "role": m.role + (" (leader)" if m.leader and m.name in alive else ""),
            "state": "alive" if m.name in alive else "silent",
            "host": m.host,
            "pid": m.pid,
            "last_seen": moment(m.seen_at, None),
            "stored": m.counts.get("stored", 0),
            "waiting": m.counts.get("waiting", 0),
            "lag_s": round(m.lag_s, 1),
        }
        for m in found
    ]
    show(list(records[0]) if records else ["name"], records, as_json)
    if not as_json:
        leader = state.leader.name if state.leader else "none"
        held = [m.counts["broker_held"] for m in state.alive if "broker_held" in m.counts]
        backlog = f"; the broker holds {max(held)} messages" if held else ""
        click.echo(f"{state.workers} workers alive; leader: {leader}{backlog}")
    for problem in state.problems():
        click.echo(f"problem: {problem}", err=True)
    if state.problems():
        ctx.exit(1)


@cluster_group.command("forget")
@click.argument("name")
@click.pass_context
def cluster_forget(ctx: click.Context, name: str) -> None:
    """Remove a process that is gone for good from the status."""
    with opened(ctx) as app:
        members, _ = app.cluster()
        members.forget(name)
    click.echo(f"forgot {name}")
