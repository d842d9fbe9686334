"""``kenshin explain``: why a slot of a meter shows what it shows."""

from __future__ import annotations

import re
import time
from datetime import date, datetime

import click

from kenshin.domain.energy import format_kwh
from kenshin.domain.slots import iso_utc, zone
from kenshin.entrypoints.cli.app import cli, opened
from kenshin.services.explain import ExplainError, SlotExplanation, explain_slot

_SLOT = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?:[+-]\d{2}:\d{2})?)")


def parse_slot(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[date, str]:
    """Click callback: ``YYYY-MM-DD HH:MM`` (local; ``HH:MM+01:00`` for a repeated hour)."""
    match = _SLOT.fullmatch(value.strip())
    expected = f"{value!r}: expected the slot's local start as 'YYYY-MM-DD HH:MM'"
    if match is None:
        raise click.BadParameter(expected)
    try:
        return date.fromisoformat(match[1]), match[2]
    except ValueError as exc:
        raise click.BadParameter(expected) from exc


@cli.command(short_help="Why a meter's slot shows what it shows.")
@click.argument("meter_id")
@click.option(
    "--slot",
    "slot",
    required=True,
    callback=parse_slot,
    help="The slot's local start, 'YYYY-MM-DD HH:MM', in the customer's time zone (a time"
    " that comes twice as the clocks go back takes its offset: '2026-10-25 02:00+02:00').",
)
@click.pass_context
def explain(ctx: click.Context, meter_id: str, slot: tuple[date, str]) -> None:
    """Show the raw readings around a slot of METER_ID, its value and flag in the
    customer's file with the rules that fired and the estimate's method, and the
    revisions of that day's file."""
    day, label = slot
    with opened(ctx) as app:
        try:
            found = explain_slot(
                app.store, app.export_settings, meter_id, day, label, now=int(time.time())
            )
        except ExplainError as exc:
            raise click.UsageError(str(exc)) from exc
    for line in describe(found):
        click.echo(line)


def describe(found: SlotExplanation) -> list[str]:
    """The explanation as lines of text."""
    tz = zone(found.customer.timezone)
    end = datetime.fromtimestamp(found.start + 1800, tz)
    lines = [
        f"meter {found.meter.id} (device {found.meter.device}, customer {found.customer.id})",
        f"slot {found.slots.day} {found.label}-{end:%H:%M} {found.customer.timezone}"
        f" ({iso_utc(found.start)} to {iso_utc(found.start + 1800)})",
        "",
        "readings within an hour of the slot (register steps):",
    ]
    lines += [
        f"  {datetime.fromtimestamp(r.t, tz).isoformat()}  fwd {_step(r.fwd)}  rev {_step(r.rev)}"
        for r in found.readings
    ] or ["  none"]
    lines += ["", "in the customer's file:"]
    outside = None if found.in_service else _outside(found)
    if not found.rows:
        lines.append(f"  no row: {outside}")
    for row in found.rows:
        value = "no value" if row.value is None else f"{format_kwh(row.value)} kWh"
        why = f" ({', '.join(row.reasons)})" if row.reasons else ""
        if outside is not None:
            why = f": {outside}"
        lines.append(f"  {row.direction.value}: {value}, flag {row.flag}{why}")
    lines += ["", f"revisions of {found.slots.day}:"]
    lines += [
        f"  {r.revision}  {r.status:<11} {iso_utc(r.created_at)}  {r.file_name}"
        f"  {r.estimated_slots} estimated"
        for r in found.revisions
    ] or ["  none published yet"]
    return lines


def _outside(found: SlotExplanation) -> str:
    """Why the slot has no value: the meter was not in service, from when to when."""
    tz = zone(found.customer.timezone)
    fitted, removed = found.meter.installed_at, found.meter.removed_at
    start = "a time not recorded" if fitted is None else datetime.fromtimestamp(fitted, tz)
    end = "now" if removed is None else datetime.fromtimestamp(removed, tz)
    return f"outside the meter's time in service (from {_text(start)} to {_text(end)})"


def _text(moment: datetime | str) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def _step(value: int | None) -> str:
    return "-" if value is None else str(value)
