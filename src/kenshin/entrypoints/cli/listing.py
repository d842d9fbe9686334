"""How list commands print: a table for people, or with --json one JSON array of objects
for scripts; times in the customer's zone, or in UTC with --utc."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import click

from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import F
from kenshin.services.fleet_lists import device_zones

__all__ = ["device_zones"]

Cell = str | int | float | datetime | None
Record = Mapping[str, Cell]


def json_option(command: F) -> F:
    """The --json flag of a list command."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON array of objects (times ISO 8601 with offset) instead of a table.",
    )(command)


def utc_option(command: F) -> F:
    """The --utc flag of a list command that shows times."""
    return click.option(
        "--utc", is_flag=True, help="Show times in UTC instead of the customer's time zone."
    )(command)


def moment(epoch: int | None, timezone: str | None) -> datetime | None:
    """``epoch`` (UTC epoch s) as an aware time in ``timezone`` (None: UTC)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, zone(timezone) if timezone else UTC)


def show(columns: Sequence[str], records: Sequence[Record], as_json: bool) -> None:
    """Print ``records`` (each with every one of ``columns``) as a table or as JSON."""
    if as_json:
        items = [{c: _json_cell(r[c]) for c in columns} for r in records]
        click.echo(json.dumps(items, ensure_ascii=False, indent=1))
        return
    table(tuple(columns), [tuple(text_cell(r[c]) for c in columns) for r in records])


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Print ``rows`` under ``header``, each column as wide as its widest cell."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _json_cell(value: Cell) -> str | int | float | None:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def text_cell(value: Cell) -> str:
    """A cell as a table shows it: times to the minute with their offset, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
