"""The endpoint's own certificate: issued again, for new host names or before it ends."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kenshin.bootstrap import check_endpoint_names, reissue_endpoint_certificate
from kenshin.domain.devices import SERVER_VALID_DAYS
from kenshin.entrypoints.cli.app import cli, endpoint_names, opened
from kenshin.errors import KenshinError


@cli.command("server-cert", short_help="Issue the MQTT endpoint's certificate again.")
@endpoint_names
@click.option(
    "--only",
    is_flag=True,
    help="Name only the defaults and those given, not those of the current certificate.",
)
@click.option(
    "--valid-days",
    type=click.IntRange(1, 7300),
    default=SERVER_VALID_DAYS,
    show_default=True,
    help="Days the certificate is valid.",
)
@click.pass_context
def server_cert(
    ctx: click.Context,
    hostnames: tuple[str, ...],
    ips: tuple[str, ...],
    only: bool,
    valid_days: int,
) -> None:
    """Issue the MQTT endpoint's certificate (pki/server.pem and server.key) again from
    the units' certificate authority: for localhost, 127.0.0.1, ::1, this machine's host
    name, the names of the current certificate (unless --only) and those given. Units
    keep trusting the same ca.pem. 'kenshin serve' presents it once restarted (so does
    the FTPS server, unless ftps.certificate sets its own)."""
    try:
        check_endpoint_names(hostnames, ips)
    except KenshinError as exc:
        raise click.BadParameter(str(exc)) from exc
    with opened(ctx) as app:
        issued = reissue_endpoint_certificate(app, hostnames, ips, only=only, valid_days=valid_days)
    until = datetime.fromtimestamp(issued.not_after, UTC).date()
    click.echo(
        f"issued the endpoint's certificate {issued.path}, valid until {until} (UTC),"
        f" for: {', '.join(issued.names)}"
    )
    click.echo("restart 'kenshin serve' to present it; units keep trusting the same ca.pem")
