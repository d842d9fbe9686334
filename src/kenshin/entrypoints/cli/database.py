"""``kenshin db``: the store's schema."""

from __future__ import annotations

import click

from kenshin.bootstrap import upgrade_store
from kenshin.entrypoints.cli.app import cli


@cli.group(short_help="The store's schema: create or upgrade it.")
def db() -> None:
    """The store's schema, versioned: a kenshin refuses a store newer than itself."""


@db.command(short_help="Create the store's schema, or upgrade it to this kenshin's.")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create the store's schema where there is none, or bring an older one up to this
    kenshin's version, in one transaction. A PostgreSQL store is upgraded only by this
    command: upgrade every process that uses it first, then run it once. A SQLite
    store is also upgraded when a newer kenshin opens it."""
    config, _verbose = ctx.find_root().obj
    where, before, now = upgrade_store(config)
    if before == now:
        click.echo(f"{where}: schema version {now}, this kenshin's: nothing to do")
    elif before == 0:
        click.echo(f"{where}: schema created, version {now}")
    else:
        click.echo(f"{where}: schema upgraded from version {before} to {now}")
