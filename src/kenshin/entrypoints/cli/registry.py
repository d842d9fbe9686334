"""Commands that set things up: init and customers; the helpers the other command
modules share (ids checked, ids read from a file, tables printed)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import click

from kenshin.bootstrap import init_project
from kenshin.domain.model import (
    CUSTOMER_ID,
    DEFAULT_FILE_PATTERN,
    DEFAULT_TIMEZONE,
    DEVICE_ID,
    ENCODINGS,
    Customer,
    Labels,
    Layout,
)
from kenshin.entrypoints.cli.app import check_timezone, cli, opened
from kenshin.entrypoints.cli.listing import json_option, show
from kenshin.entrypoints.cli.listing import table as table  # also for the other modules
from kenshin.errors import ExportError
from kenshin.services.export import check_file_pattern


@cli.command(short_help="Create a data folder with its config.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--hostname",
    "hostnames",
    multiple=True,
    help="A name units reach the MQTT endpoint by (repeatable).",
)
@click.option(
    "--ip", "ips", multiple=True, help="An address units reach the endpoint at (repeatable)."
)
def init(directory: Path, hostnames: tuple[str, ...], ips: tuple[str, ...]) -> None:
    """Create DIRECTORY with kenshin.toml, the database, the outbox folder and the
    units' certificate authority (pki/). The endpoint's certificate names
    localhost, 127.0.0.1, ::1, this machine's host name and the names given."""
    config = init_project(directory, hostnames=hostnames, ips=ips)
    click.echo(f"created {config}")
    click.echo(
        "units' certificate authority and the endpoint's certificate: pki/ in the data folder"
    )
    click.echo(f"next: cd {directory} && kenshin customers add ID --name NAME")


@cli.group()
def customers() -> None:
    """Customers: each receives one file per local day."""


def _check_id(pattern: re.Pattern[str], value: str, what: str) -> str:
    extra = "'.', '_', '-' or ':'" if pattern is DEVICE_ID else "'.', '_' or '-'"
    if not pattern.fullmatch(value):
        raise click.BadParameter(
            f"{value!r}: a {what} id is 1-64 letters, digits or {extra}, "
            "starting with a letter or digit"
        )
    return value


def _check_pattern(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        check_file_pattern(value)
    except ExportError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@customers.command("add")
@click.argument("customer_id")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--timezone",
    default=DEFAULT_TIMEZONE,
    show_default=True,
    callback=check_timezone,
    help="IANA zone of the customer's local day.",
)
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS),
    default="utf-8",
    show_default=True,
    help="Encoding of the files.",
)
@click.option(
    "--layout",
    type=click.Choice([m.value for m in Layout]),
    default="wide",
    show_default=True,
    help="Shape of the files.",
)
@click.option(
    "--labels",
    type=click.Choice([m.value for m in Labels]),
    default="en",
    show_default=True,
    help="Language of the column labels.",
)
@click.option(
    "--decimals",
    type=click.IntRange(0, 6),
    default=3,
    show_default=True,
    help="Minimum kWh decimals; values always print exactly.",
)
@click.option(
    "--file-pattern",
    default=DEFAULT_FILE_PATTERN,
    show_default=True,
    callback=_check_pattern,
    help="File name, with {customer} and {date:%Y%m%d}.",
)
@click.pass_context
def customers_add(
    ctx: click.Context,
    customer_id: str,
    name: str,
    timezone: str,
    encoding: str,
    layout: str,
    labels: str,
    decimals: int,
    file_pattern: str,
) -> None:
    """Add customer CUSTOMER_ID."""
    _check_id(CUSTOMER_ID, customer_id, "customer")
    customer = Customer(
        customer_id,
        name,
        timezone,
        encoding,
        Layout(layout),
        Labels(labels),
        decimals,
        file_pattern,
    )
    with opened(ctx) as app:
        app.store.add_customer(customer)
    click.echo(f"added customer {customer_id} ({timezone}, {layout}, {encoding})")


@customers.command("list")
@json_option
@click.pass_context
def customers_list(ctx: click.Context, as_json: bool) -> None:
    """List customers."""
    with opened(ctx) as app:
        found = app.store.list_customers()
    records = [
        {
            "id": c.id,
            "name": c.name,
            "timezone": c.timezone,
            "layout": c.layout.value,
            "encoding": c.encoding,
            "labels": c.labels.value,
        }
        for c in found
    ]
    show(("id", "name", "timezone", "layout", "encoding", "labels"), records, as_json)


def ids_from_file(lines: Iterable[str]) -> list[str]:
    """Ids in the first column of CSV lines; a 'device' header and # comments are skipped."""
    ids = []
    for line in lines:
        first = line.split(",", 1)[0].strip()
        if first and first != "device" and not first.startswith("#"):
            ids.append(first)
    return ids
