"""``kenshin replay``: make a published day file again and check it byte for byte."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from kenshin.domain.slots import iso_utc
from kenshin.entrypoints.cli.app import cli, opened, parse_day
from kenshin.services.replay import Replayed, ReplayError, replay, revisions_of

OLDER_RULES_EXIT = 3  # made under older rules: not comparable byte for byte


@cli.command(short_help="Make a day's file again and check it byte for byte.")
@click.option("--customer", "customer_id", required=True, help="The customer's id.")
@click.option("--date", "day", required=True, callback=parse_day, help="The local day, YYYY-MM-DD.")
@click.option(
    "--revision",
    "number",
    type=click.IntRange(min=1),
    help="Which revision (default: the newest).",
)
@click.option("--all", "every", is_flag=True, help="Replay every revision of the day.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the file made again here (one revision only).",
)
@click.pass_context
def replay_command(
    ctx: click.Context,
    customer_id: str,
    day: date | None,
    number: int | None,
    every: bool,
    out: Path | None,
) -> None:
    """Make a revision of a customer's day file again from the stored raw readings, as
    of the batch of readings it was made from and with the settings it was made with,
    and compare it with the SHA-256 recorded when it was published. Exits 1 if a
    revision differs; exits 3 if none differs but a revision made by an older kenshin,
    under rules that have changed since, is not made again byte for byte (the line
    names what changed); exits 0 if every revision is identical."""
    if day is None:
        raise click.UsageError("--date is required")
    if every and (number is not None or out is not None):
        raise click.UsageError("--all replays every revision: leave out --revision and --out")
    with opened(ctx) as app:
        try:
            revisions = revisions_of(app.store, customer_id, day, number, every=every)
            done = [replay(app.store, r) for r in revisions]
        except ReplayError as exc:
            raise click.ClickException(str(exc)) from exc
    if out is not None:
        out.write_bytes(done[0].content)
    for replayed in done:
        click.echo(describe(replayed))
    if not all(r.identical or r.older_rules for r in done):
        raise click.exceptions.Exit(1)
    if not all(r.identical for r in done):
        raise click.exceptions.Exit(OLDER_RULES_EXIT)


def describe(replayed: Replayed) -> str:
    """One line on a replayed revision."""
    r = replayed.revision
    head = (
        f"{r.file_name} revision {r.revision} ({r.status}, made {iso_utc(r.created_at)}"
        f" from batch {r.as_of_batch}): "
    )
    if replayed.identical:
        return head + f"identical, sha256 {r.sha256}"
    if replayed.older_rules:
        return head + (
            f"made by an older kenshin under older rules (version {replayed.rules}),"
            f" which have changed since: {replayed.older_rules}; not made again byte for byte"
        )
    return head + f"DIFFERS: published sha256 {r.sha256}, made again {replayed.sha256}"
