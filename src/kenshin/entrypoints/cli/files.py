"""The ``files`` command: the file servers alone, on any node of a cluster."""

from __future__ import annotations

import asyncio

import click

from kenshin.entrypoints.cli.app import cli, echo_listeners, opened
from kenshin.entrypoints.files_node import serve_files


@cli.command("files", short_help="Serve customers their files (FTPS, SFTP) and nothing else.")
@click.pass_context
def files_command(ctx: click.Context) -> None:
    """Run only the file servers customers collect their files from (FTPS and SFTP, as
    configured) and the HTTP side (/metrics, /healthz, /readyz), serving the outbox
    export.outbox names. Accounts, receipts, failed logins and lockouts are kept in
    the store, so several of these on different machines, on one PostgreSQL store and
    one shared outbox folder, serve as one. Takes the data folder's files.lock, not
    the server's serve.lock.

    Stops cleanly on SIGTERM or Ctrl-C.
    """

    with opened(ctx) as app:
        asyncio.run(serve_files(app, on_listening=echo_listeners))
    click.echo("stopped")
