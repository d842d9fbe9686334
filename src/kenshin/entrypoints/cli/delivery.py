"""Commands of delivery: customers' logins to the file servers, and their downloads."""

from __future__ import annotations

import ipaddress
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import click

from kenshin.domain.accounts import Receipt
from kenshin.entrypoints.cli.app import cli, cli_actor, known_customer, opened, parse_day
from kenshin.entrypoints.cli.listing import Record, json_option, moment, show, utc_option
from kenshin.entrypoints.cli.registry import customers
from kenshin.errors import NotFoundError
from kenshin.services.accounts import check_networks, generate_password, hash_password
from kenshin.services.delivery_admin import request_unlock, set_credentials
from kenshin.services.receipts import Uncollected, missed_deadlines

MIN_PASSWORD = 12
UNLOCK_WAIT_S = 5.0  # how long unlock waits for the running server to apply it
RECEIPT_COLUMNS = ("time", "customer", "file", "revision", "bytes", "protocol", "address")
UNCOLLECTED_COLUMNS = ("customer", "day", "file", "revision", "due", "status", "collected")


@customers.command("credentials")
@click.argument("customer_id")
@click.option(
    "--password",
    "set_password",
    is_flag=True,
    help="Set the password: typed at the prompt, or generated (and shown once) if left empty.",
)
@click.option(
    "--password-file",
    type=click.File("r", encoding="utf-8"),
    help="Set the password to the first line of FILE ('-': standard input); no prompt.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Set the password to the first line of standard input; no prompt.",
)
@click.option(
    "--ssh-key",
    "key_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Add the OpenSSH public keys in FILE (repeatable).",
)
@click.option("--clear-keys", is_flag=True, help="Remove every SSH key first.")
@click.option(
    "--allow",
    "networks",
    multiple=True,
    help="Allow logins only from this address or CIDR network (repeatable; replaces the list).",
)
@click.option("--allow-any", is_flag=True, help="Allow logins from any address.")
@click.pass_context
def customers_credentials(
    ctx: click.Context,
    customer_id: str,
    set_password: bool,
    password_file: TextIO | None,
    password_stdin: bool,
    key_files: tuple[Path, ...],
    clear_keys: bool,
    networks: tuple[str, ...],
    allow_any: bool,
) -> None:
    """Set how CUSTOMER_ID logs in to collect its files over FTPS and SFTP: a password
    (kept as an argon2 hash), SSH public keys, and the addresses it may log in from.
    In scripts, --password-file or --password-stdin give the password without a prompt."""
    if networks and allow_any:
        raise click.UsageError("--allow and --allow-any exclude each other")
    given = _given_password(set_password, password_file, password_stdin)
    keys = [_read_key(line, path) for path in key_files for line in _key_lines(path)]
    try:
        allowed = check_networks(networks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow") from exc
    with opened(ctx) as app:
        if app.store.registry.get_customer(customer_id) is None:
            raise NotFoundError(f"customer {customer_id!r} does not exist")
        shown = None
        if set_password and given is None:
            given, shown = _ask_password()
        account = set_credentials(
            app.store.registry,
            app.store.deliveries,
            (app.store.audit, cli_actor()),
            customer_id,
            password_hash=None if given is None else hash_password(given),
            keys=keys,
            clear_keys=clear_keys,
            allowed=allowed if networks or allow_any else None,
            now=int(time.time()),
        )
    if shown is not None:
        click.echo(f"password of {customer_id} (shown only now): {shown}")
    where = ", ".join(account.allowed) if account.allowed else "any address"
    click.echo(
        f"{customer_id}: password {'set' if account.password_hash else 'not set'},"
        f" {len(account.ssh_keys)} SSH key(s), logins from {where}"
    )


@customers.command("unlock")
@click.argument("customer_id")
@click.option(
    "--address", help="Only the failures from this address, and unlock it even if others locked it."
)
@click.pass_context
def customers_unlock(ctx: click.Context, customer_id: str, address: str | None) -> None:
    """Clear CUSTOMER_ID's failed logins to the file servers and unlock the addresses
    they came from (or only ADDRESS), for every file server on the store. A running one
    ('kenshin serve' or 'kenshin files') applies it within a second or two and this
    says what it cleared."""
    if address is not None:
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError as exc:
            raise click.BadParameter(
                f"{address!r} is not an IP address", param_hint="--address"
            ) from exc
    with opened(ctx) as app:
        deliveries = app.store.deliveries
        by = (app.store.audit, cli_actor())
        request_id = request_unlock(
            app.store.registry, deliveries, by, customer_id, address, now=int(time.time())
        )
        deadline = time.monotonic() + UNLOCK_WAIT_S
        while (request := deliveries.get_unlock(request_id)) is not None and (
            request.done_at is None and time.monotonic() < deadline
        ):
            time.sleep(0.1)
    where = "" if address is None else f" from {address}"
    if request is None or request.done_at is None:
        click.echo(
            f"{customer_id}: unlock requested; no running file server applied it within"
            f" {UNLOCK_WAIT_S:.0f} s: the next one to start applies it (failed logins are"
            " kept in the store)"
        )
        return
    for line in request.cleared or [f"nothing to clear{where}"]:
        click.echo(f"{customer_id}: {line}")


def _given_password(prompt: bool, source: TextIO | None, stdin: bool) -> str | None:
    """The password of --password-file or --password-stdin (checked), None for neither."""
    if prompt + (source is not None) + stdin > 1:
        raise click.UsageError("give one of --password, --password-file and --password-stdin")
    if source is None and not stdin:
        return None
    line = (source if source is not None else sys.stdin).readline()
    password = line.removesuffix("\n").removesuffix("\r")
    where = "--password-stdin" if stdin else "--password-file"
    if len(password) < MIN_PASSWORD:
        raise click.BadParameter(
            f"a password has at least {MIN_PASSWORD} characters (the first line is read)",
            param_hint=where,
        )
    return password


def _ask_password() -> tuple[str, str | None]:
    """The password typed, or a generated one (and it again, to show)."""
    typed: str = click.prompt(
        "Password (empty: generate one)",
        default="",
        hide_input=True,
        show_default=False,
    )
    if not typed:
        generated = generate_password()
        return generated, generated
    if len(typed) < MIN_PASSWORD:
        raise click.BadParameter(f"a password has at least {MIN_PASSWORD} characters")
    again: str = click.prompt("Repeat it", hide_input=True)
    if again != typed:
        raise click.BadParameter("the two passwords differ")
    return typed, None


def _key_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s for line in lines if (s := line.strip()) and not s.startswith("#")]


def _read_key(line: str, path: Path) -> str:
    """The key as stored: type, base64 and comment; BadParameter for anything else."""
    import asyncssh  # a quarter of a second to import: only this command needs it

    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise click.BadParameter(f"{path}: not an OpenSSH public key ({exc})") from exc
    exported = key.export_public_key("openssh").decode("ascii").split()
    comment = line.split()[2:3]
    return " ".join(exported[:2] + comment)


@cli.command("deliveries")
@click.option("--customer", "customer_id", help="Only this customer's downloads.")
@click.option(
    "--since", callback=parse_day, help="Only downloads on or after this UTC day (YYYY-MM-DD)."
)
@click.option(
    "--uncollected",
    is_flag=True,
    help="Instead, list final daily files not collected by their deadline: those still"
    " not collected, and those collected late (with when).",
)
@utc_option
@json_option
@click.pass_context
def deliveries(
    ctx: click.Context,
    customer_id: str | None,
    since: date | None,
    uncollected: bool,
    utc: bool,
    as_json: bool,
) -> None:
    """List completed downloads (receipts) of customers' files, oldest first."""
    with opened(ctx) as app:
        known_customer(app, customer_id)
        zones = {} if utc else {c.id: c.timezone for c in app.store.registry.list_customers()}
        if uncollected:
            hours = app.settings.deliveries.collect_by_hours
            late = missed_deadlines(app.store, int(time.time()), hours)
            records = [
                _uncollected_record(u, zones)
                for u in late
                if customer_id is None or u.customer == customer_id
            ]
            show(UNCOLLECTED_COLUMNS, records, as_json)
            return
        start = (
            None
            if since is None
            else int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp())
        )
        receipts = app.store.deliveries.list_receipts(customer_id, start)
    show(RECEIPT_COLUMNS, [_receipt_record(r, zones) for r in receipts], as_json)


def _uncollected_record(u: Uncollected, zones: dict[str, str]) -> Record:
    """A final file not collected by its deadline, as a row of ``deliveries --uncollected``."""
    return {
        "customer": u.customer,
        "day": u.day,
        "file": u.file_name,
        "revision": u.revision,
        "due": moment(u.due_at, zones.get(u.customer)),
        "status": "not collected" if u.collected_at is None else "collected late",
        "collected": moment(u.collected_at, zones.get(u.customer)),
    }


def _receipt_record(r: Receipt, zones: dict[str, str]) -> Record:
    """A download's receipt as a row of ``deliveries``."""
    return {
        "time": moment(r.at, zones.get(r.customer)),
        "customer": r.customer,
        "file": r.file_name,
        "revision": r.revision,
        "bytes": r.bytes,
        "protocol": r.protocol,
        "address": r.address,
    }
