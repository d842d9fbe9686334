"""The endpoint's own certificate: issued again, for new host names or before it ends."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kenshin.adapters.pki import (
    PKI_FOLDER,
    SERVER_CERT,
    SERVER_VALID_DAYS,
    LocalCertificateAuthority,
    check_names,
)
from kenshin.adapters.pki_files import certificate_names
from kenshin.bootstrap import issue_endpoint_certificate
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
        check_names(hostnames, ips)
    except KenshinError as exc:
        raise click.BadParameter(str(exc)) from exc
    with opened(ctx) as app:
        folder = app.data_dir / PKI_FOLDER
        ca = LocalCertificateAuthority.load(folder)
        kept_names, kept_ips = ([], []) if only else certificate_names(folder / SERVER_CERT)
        issued = issue_endpoint_certificate(
            ca, [*kept_names, *hostnames], [*kept_ips, *ips], valid_days
        )
    names, addresses = certificate_names(folder / SERVER_CERT)
    until = datetime.fromtimestamp(issued.not_after, UTC).date()
    click.echo(
        f"issued the endpoint's certificate {folder / SERVER_CERT}, valid until {until} (UTC),"
        f" for: {', '.join([*names, *addresses])}"
    )
    click.echo("restart 'kenshin serve' to present it; units keep trusting the same ca.pem")
