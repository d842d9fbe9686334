"""The ``serve`` command: the long-running server."""

from __future__ import annotations

import asyncio

import click

from kenshin.entrypoints.cli.app import cli, echo_listeners, opened
from kenshin.entrypoints.serve import serve


@cli.command("serve", short_help="Run the server: device endpoint, ingest, periodic exports.")
@click.pass_context
def serve_command(ctx: click.Context) -> None:
    """Run the device endpoint (MQTT over TLS, unit certificates from 'kenshin devices add
    --out'), store what units send, export every customer's files on a schedule, and
    serve them to customers over FTPS and SFTP ('kenshin customers credentials').
    On localhost, HTTP serves /metrics (Prometheus), /healthz and /readyz. Alert
    rules are evaluated every minute and sent through the configured channels
    (email, Slack, webhook), and the daily data-quality report goes out at its
    time ([alerts] and [report] in the config).

    Stops cleanly on SIGTERM or Ctrl-C: what units sent is committed and acknowledged first.
    """

    with opened(ctx) as app:
        asyncio.run(serve(app, on_listening=echo_listeners))
    click.echo("stopped")
