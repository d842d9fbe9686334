"""A broker's configuration from kenshin's certificate authority and registry."""

from __future__ import annotations

from pathlib import Path

import click

from kenshin.bootstrap import check_endpoint_names
from kenshin.broker_setup import DEFAULT_PORT, WORKER_NAME, write_mosquitto
from kenshin.entrypoints.cli.app import cli, endpoint_names, opened
from kenshin.errors import KenshinError


@cli.group("broker-config", short_help="Configure an MQTT broker as the units' endpoint.")
def broker_config() -> None:
    """Write the configuration of an MQTT broker that units connect to instead of
    'kenshin serve''s own endpoint, from kenshin's certificate authority and registry."""


@broker_config.command("mosquitto", short_help="Write a Mosquitto 2 configuration.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of the configuration (made if missing).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="The TLS port units connect to.",
)
@endpoint_names
@click.option(
    "--user",
    default="mosquitto",
    show_default=True,
    help="The system user the broker runs as (its key and data folder are given to it).",
)
@click.option("--crl-only", is_flag=True, help="Only write the CRL again if it changed.")
@click.pass_context
def mosquitto(
    ctx: click.Context,
    out: Path,
    port: int,
    hostnames: tuple[str, ...],
    ips: tuple[str, ...],
    user: str,
    crl_only: bool,
) -> None:
    """Write a Mosquitto 2 configuration to OUT: mosquitto.conf (a TLS 1.2+ listener
    requiring a client certificate of the units' CA, its CN as user name, persistence
    in OUT/data/), acl (each unit publishes to dt/kenshin/<its id>/# and reads
    cmd/kenshin/<its id>/# only), crl.pem (the revoked units' certificates), the
    broker's certificate (broker.pem, broker.key; issued again when --hostname or --ip
    is given) and the workers' client certificate (worker.pem, worker.key: they may
    read every unit's data and send commands). Start the broker with
    'mosquitto -c OUT/mosquitto.conf'.

    A revoked unit ('kenshin devices remove' or 'devices revoke') is refused once the
    CRL is written again and the broker sent SIGHUP (it then reads its CRL again): run
    'kenshin broker-config mosquitto --out OUT --crl-only' and 'kill -HUP' the broker
    every minute (a cron job or systemd timer) to refuse a revoked unit within 60 s.
    The CRL is rewritten only when the revoked certificates change, and is valid for
    30 days: past that the broker refuses every unit."""
    try:
        check_endpoint_names(hostnames, ips)
    except KenshinError as exc:
        raise click.BadParameter(str(exc)) from exc
    with opened(ctx) as app:
        done = write_mosquitto(
            app, out, port=port, hostnames=hostnames, ips=ips, user=user, crl_only=crl_only
        )
    wrote = ", ".join(done.written) if done.written else "nothing (the CRL is up to date)"
    click.echo(f"wrote to {done.folder}: {wrote}")
    click.echo(f"the CRL names {done.revoked} revoked certificate(s)")
    if not crl_only:
        click.echo(
            f"workers connect with worker.pem and worker.key (user {WORKER_NAME!r});"
            f" start the broker: mosquitto -c {done.folder / 'mosquitto.conf'}"
        )
    if "crl.pem" in done.written:
        click.echo("send a running broker SIGHUP to read the CRL again")
