"""Commands that set things up: init, customers, devices."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import click

from kenshin.bootstrap import init_project
from kenshin.domain.model import (
    CUSTOMER_ID,
    DEFAULT_FILE_PATTERN,
    DEFAULT_TIMEZONE,
    DEVICE_ID,
    ENCODINGS,
    Customer,
    Device,
    Labels,
    Layout,
)
from kenshin.entrypoints.cli.app import check_timezone, cli, opened
from kenshin.errors import ExportError
from kenshin.services.export import check_file_pattern


@cli.command(short_help="Create a data folder with its config.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create DIRECTORY with kenshin.toml, the database and the outbox folder."""
    config = init_project(directory)
    click.echo(f"created {config}")
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
@click.pass_context
def customers_list(ctx: click.Context) -> None:
    """List customers."""
    with opened(ctx) as app:
        rows = [
            (c.id, c.name, c.timezone, c.layout.value, c.encoding, c.labels.value)
            for c in app.store.list_customers()
        ]
    table(("id", "name", "timezone", "layout", "encoding", "labels"), rows)


@cli.group(short_help="Devices: the units, each of one customer.")
def devices() -> None:
    """Devices: the communication units, each belonging to one customer."""


@devices.command("add")
@click.argument("device_ids", nargs=-1)
@click.option("--customer", required=True, help="Customer the devices belong to.")
@click.option(
    "--file",
    "id_file",
    type=click.File("r", encoding="utf-8-sig"),
    help="Also add the ids in the first column of this CSV file (a 'device' header is skipped).",
)
@click.pass_context
def devices_add(
    ctx: click.Context, device_ids: tuple[str, ...], customer: str, id_file: TextIO | None
) -> None:
    """Add devices DEVICE_IDS... to a customer; ids it has already are skipped."""
    ids = list(dict.fromkeys([*device_ids, *(ids_from_file(id_file) if id_file else [])]))
    if not ids:
        raise click.UsageError("give at least one DEVICE_ID or --file FILE")
    for device_id in ids:
        _check_id(DEVICE_ID, device_id, "device")
    with opened(ctx) as app:
        if app.store.get_customer(customer) is None:
            raise click.BadParameter(
                f"no customer {customer!r}; add it with 'kenshin customers add'",
                param_hint="--customer",
            )
        known = {d.id: d for d in app.store.list_devices()}
        taken = [i for i in ids if i in known and known[i].customer != customer]
        if taken:
            owners = ", ".join(f"{i} ({known[i].customer})" for i in taken[:5])
            raise click.UsageError(f"devices belong to another customer already: {owners}")
        new = [i for i in ids if i not in known]
        for device_id in new:
            app.store.add_device(Device(device_id, customer))
    click.echo(f"added {len(new)} device(s) to {customer}; {len(ids) - len(new)} already there")


def ids_from_file(lines: Iterable[str]) -> list[str]:
    """Ids in the first column of CSV lines; a 'device' header and # comments are skipped."""
    ids = []
    for line in lines:
        first = line.split(",", 1)[0].strip()
        if first and first != "device" and not first.startswith("#"):
            ids.append(first)
    return ids


@devices.command("list")
@click.option("--customer", help="Only the devices of this customer.")
@click.pass_context
def devices_list(ctx: click.Context, customer: str | None) -> None:
    """List devices."""
    with opened(ctx) as app:
        rows = [(d.id, d.customer) for d in app.store.list_devices(customer)]
    table(("id", "customer"), rows)


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
