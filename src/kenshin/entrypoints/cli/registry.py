"""Commands that set things up: init and customers; the helpers the other command
modules share (ids checked, ids read from a file, tables printed)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
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
    FlagColumns,
    Labels,
    Layout,
    SlotLabels,
)
from kenshin.entrypoints.cli.app import F, check_timezone, cli, cli_actor, endpoint_names, opened
from kenshin.entrypoints.cli.listing import json_option, show
from kenshin.entrypoints.cli.listing import table as table  # also for the other modules
from kenshin.errors import ExportError
from kenshin.services.customer_admin import add_customer, change_customer, zone_change_note
from kenshin.services.export import check_file_pattern


@cli.command(short_help="Create a data folder with its config.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@endpoint_names
@click.option(
    "--new-database",
    is_flag=True,
    help="In a folder made before: an empty database where it is missing or empty.",
)
def init(
    directory: Path, hostnames: tuple[str, ...], ips: tuple[str, ...], new_database: bool
) -> None:
    """Create DIRECTORY with kenshin.toml, the database, the outbox folder and the
    units' certificate authority (pki/). The endpoint's certificate names
    localhost, 127.0.0.1, ::1, this machine's host name and the names given.

    Every other command refuses a missing or empty (0-byte) database rather than
    start with no customers, devices or revocations; --new-database is how to
    start again with an empty one on purpose."""
    existed = (directory / "kenshin.toml").exists()
    config = init_project(directory, hostnames=hostnames, ips=ips, new_database=new_database)
    click.echo(f"{'created a new database for' if existed else 'created'} {config}")
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


def _check_pattern(pattern: str, customer_id: str) -> None:
    try:
        check_file_pattern(pattern, customer_id)
    except ExportError as exc:
        raise click.BadParameter(str(exc), param_hint="--file-pattern") from exc


# The settings of a customer's files: option, choices, default, help.
_FILE_OPTIONS = (
    ("--encoding", ENCODINGS, "utf-8", "Encoding of the files."),
    ("--layout", [m.value for m in Layout], "wide", "Shape of the files."),
    ("--labels", [m.value for m in Labels], "en", "Language of the column labels."),
    (
        "--slot-labels",
        [m.value for m in SlotLabels],
        "start",
        "Wide slot columns labelled by start time, end time (to 24:00) or number (1-48).",
    ),
    (
        "--flags",
        [m.value for m in FlagColumns],
        "block",
        "Wide quality flags in one column, or one column after each slot's kWh.",
    ),
)


def file_options(*, defaults: bool) -> Callable[[F], F]:
    """The options of a customer's file settings: with their defaults (customers add),
    or without, so that only those given change (customers set)."""

    def decorate(command: F) -> F:
        for name, choices, default, text in reversed(_FILE_OPTIONS):
            command = click.option(
                name,
                type=click.Choice(choices),
                default=default if defaults else None,
                show_default=defaults,
                help=text,
            )(command)
        return command

    return decorate


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
@file_options(defaults=True)
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
    slot_labels: str,
    flags: str,
    decimals: int,
    file_pattern: str,
) -> None:
    """Add customer CUSTOMER_ID."""
    _check_id(CUSTOMER_ID, customer_id, "customer")
    _check_pattern(file_pattern, customer_id)
    customer = Customer(
        customer_id,
        name,
        timezone,
        encoding,
        Layout(layout),
        Labels(labels),
        decimals,
        file_pattern,
        SlotLabels(slot_labels),
        FlagColumns(flags),
    )
    with opened(ctx) as app:
        add_customer(
            app.store.registry, app.store.audit, cli_actor(), customer, now=int(time.time())
        )
    click.echo(f"added customer {customer_id} ({timezone}, {layout}, {encoding})")


def _check_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else check_timezone(ctx, param, value)


# Option name -> (setting, how a value is made from the option's text).
_SETTABLE = {
    "layout": ("layout", Layout),
    "encoding": ("encoding", str),
    "labels": ("labels", Labels),
    "timezone": ("timezone", str),
    "slot_labels": ("slot_labels", SlotLabels),
    "flags": ("flags", FlagColumns),
}


@customers.command("set")
@click.argument("customer_id")
@click.option("--timezone", callback=_check_zone, help="IANA zone of the customer's local day.")
@file_options(defaults=False)
@click.pass_context
def customers_set(ctx: click.Context, /, customer_id: str, **options: str | None) -> None:
    """Change the file settings of customer CUSTOMER_ID and print what changed.

    The settings apply to new files only: a day that already has a file keeps the
    settings it was first written with, in every later revision.
    """
    given = {
        setting: make(value)
        for option, (setting, make) in _SETTABLE.items()
        if (value := options[option]) is not None
    }
    if not given:
        raise click.UsageError(
            "give a setting to change: --timezone, --encoding, --layout, --labels, "
            "--slot-labels or --flags"
        )
    with opened(ctx) as app:
        before = app.store.registry.get_customer(customer_id)
        if before is None:
            raise click.BadParameter(f"no customer {customer_id!r}", param_hint="CUSTOMER_ID")
        zone_to = given.get("timezone")
        note = (
            None
            if zone_to is None
            else zone_change_note(app.store.revisions, before, str(zone_to), now=int(time.time()))
        )
        customer, changed = change_customer(
            app.store.registry,
            app.store.audit,
            cli_actor(),
            customer_id,
            given,
            now=int(time.time()),
        )
    if not changed:
        click.echo(f"customer {customer_id}: nothing changed")
        return
    for setting, value in changed.items():
        click.echo(f"customer {customer_id}: {setting} {getattr(customer, setting)} -> {value}")
    click.echo(
        "applies to new files only: a day that already has a file keeps the settings "
        "it was written with"
    )
    if note is not None and "timezone" in changed:
        click.echo(f"warning: {note}", err=True)


@customers.command("list")
@json_option
@click.pass_context
def customers_list(ctx: click.Context, as_json: bool) -> None:
    """List customers."""
    with opened(ctx) as app:
        found = app.store.registry.list_customers()
    records = [
        {
            "id": c.id,
            "name": c.name,
            "timezone": c.timezone,
            "layout": c.layout.value,
            "encoding": c.encoding,
            "labels": c.labels.value,
            "slot_labels": c.slot_labels.value,
            "flags": c.flags.value,
        }
        for c in found
    ]
    columns = ("id", "name", "timezone", "layout", "encoding", "labels", "slot_labels", "flags")
    show(columns, records, as_json)


def ids_from_file(lines: Iterable[str]) -> list[str]:
    """Ids in the first column of CSV lines; a 'device' header and # comments are skipped."""
    ids = []
    for line in lines:
        first = line.split(",", 1)[0].strip()
        if first and first != "device" and not first.startswith("#"):
            ids.append(first)
    return ids
