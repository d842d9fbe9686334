"""Operators' accounts for the console and the admin API, and the audit log of changes,
at the command line (changes audited as ``cli:<OS user>``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import click

from kenshin.domain.operators import AuditEntry, Role
from kenshin.entrypoints.cli.app import cli, cli_actor, opened
from kenshin.entrypoints.cli.listing import json_option, show
from kenshin.services import operators
from kenshin.services.accounts import generate_password
from kenshin.services.audit import csv_lines, whole_log
from kenshin.services.operators import keeping_of


@cli.group("users")
def users() -> None:
    """Operators' accounts of the console and the admin API."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the password from this file's first line (default: one is generated).",
)
@click.pass_context
def add(ctx: click.Context, name: str, role: str, password_file: Path | None) -> None:
    """Add an operator; prints a generated password once. Admins and operators enrol
    TOTP (an authenticator app) at their first sign-in."""
    password = (
        password_file.read_text(encoding="utf-8").splitlines()[0].strip()
        if password_file
        else generate_password()
    )
    with opened(ctx) as app:
        operators.add_operator(keeping_of(app.store), cli_actor(), name, Role(role), password)
    click.echo(f"added {role} {name}")
    if password_file is None:
        click.echo(f"password (shown once): {password}")


@users.command("list")
@json_option
@click.pass_context
def list_users(ctx: click.Context, as_json: bool) -> None:
    """List the operators: name, role, and TOTP: enrolled, to enrol at the next sign-in,
    or - (a viewer signs in with a password alone)."""
    with opened(ctx) as app:
        found = operators.list_operators(keeping_of(app.store))
    records = [
        {
            "name": o.name,
            "role": o.role.value,
            "totp": "enrolled" if o.totp_enrolled else ("to enrol" if o.role.needs_totp else "-"),
        }
        for o in found
    ]
    show(("name", "role", "totp"), records, as_json)


@users.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove an operator with their sessions and the API tokens they made. The only
    admin is not removed: add another admin first."""
    with opened(ctx) as app:
        operators.remove_operator(keeping_of(app.store), cli_actor(), name)
    click.echo(f"removed {name}")


@users.command("unlock")
@click.argument("name")
@click.pass_context
def unlock(ctx: click.Context, name: str) -> None:
    """Lift an operator's lock after too many failed sign-ins (nothing else changes)."""
    with opened(ctx) as app:
        operators.unlock_operator(keeping_of(app.store), cli_actor(), name)
    click.echo(f"{name} may sign in again")


@users.command("reset-totp")
@click.argument("name")
@click.pass_context
def reset_totp(ctx: click.Context, name: str) -> None:
    """Give an operator a new TOTP secret to enrol at the next sign-in (a lost phone);
    their sessions end and the account is unlocked."""
    with opened(ctx) as app:
        operators.reset_totp(keeping_of(app.store), cli_actor(), name)
    click.echo(f"{name} enrols a new TOTP secret at the next sign-in")


@cli.command("audit")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC) shown.")
@click.option("--csv", "as_csv_", is_flag=True, help="Print CSV instead of JSON lines.")
@click.pass_context
def audit(ctx: click.Context, since: datetime | None, as_csv_: bool) -> None:
    """Print the audit log of changes, oldest first."""
    start = 0
    if since is not None:
        day = date(since.year, since.month, since.day)
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    with opened(ctx) as app:
        entries = whole_log(app.store.audit, start)
        if as_csv_:
            for line in csv_lines(entries):
                click.echo(line, nl=False)
            return
        for e in entries:
            _print(e)


def _print(e: AuditEntry) -> None:
    """One entry as a JSON line."""
    at = datetime.fromtimestamp(e.at, UTC).isoformat()
    fields = {"seq": e.seq, "at": at, "who": e.who, "role": e.role, "action": e.action}
    fields |= {"kind": e.kind, "key": e.key, "before": e.before, "after": e.after}
    click.echo(json.dumps({**fields, "source": e.source}, ensure_ascii=False))
