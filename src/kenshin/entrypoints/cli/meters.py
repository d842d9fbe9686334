"""Commands on meters (found in their devices' messages) and on published file revisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import click

from kenshin.domain.energy import UNIT_LABEL
from kenshin.entrypoints.cli.app import cli, opened, parse_day
from kenshin.entrypoints.cli.registry import table

MAX_DEMAND_KW = 10_000_000  # far above any meter: a guard against a typo of units


@cli.group(short_help="Meters: found in their devices' messages.")
def meters() -> None:
    """Meters: each reported by one device, registered the first time it is seen."""


@meters.command("list")
@click.option("--customer", help="Only the meters of this customer's devices.")
@click.option("--device", help="Only the meters of this device.")
@click.pass_context
def meters_list(ctx: click.Context, customer: str | None, device: str | None) -> None:
    """List meters with their unit, coefficient, digits and maximum demand."""
    with opened(ctx) as app:
        found = app.store.list_meters(customer, device_id=device)
        default_kw = app.settings.meters.max_demand_kw
    rows = [
        (
            m.id,
            m.device,
            UNIT_LABEL.get(m.spec.unit_mwh, f"{m.spec.unit_mwh} mWh"),
            str(m.spec.coefficient),
            str(m.spec.digits),
            f"{default_kw} (default)" if m.max_demand_w is None else f"{m.max_demand_w / 1000:g}",
        )
        for m in found
    ]
    table(("id", "device", "unit", "coefficient", "digits", "max_demand_kw"), rows)


@meters.command("set")
@click.argument("meter_id")
@click.option(
    "--max-demand-kw",
    type=click.IntRange(1, MAX_DEMAND_KW),
    required=True,
    help="Highest demand the meter can see; a register that went down by more than it "
    "allows in a half hour was reset or exchanged, not rolled over.",
)
@click.pass_context
def meters_set(ctx: click.Context, meter_id: str, max_demand_kw: int) -> None:
    """Set a meter's own maximum demand, in place of the configured default."""
    with opened(ctx) as app:
        meter = app.store.get_meter(meter_id)
        if meter is None:
            raise click.BadParameter(
                f"no meter {meter_id!r}; 'kenshin meters list' shows the known ones",
                param_hint="METER_ID",
            )
        app.store.save_meters([replace(meter, max_demand_w=max_demand_kw * 1000)])
    click.echo(f"{meter_id}: maximum demand {max_demand_kw} kW")


@cli.command(short_help="List the published revisions of a customer's day file.")
@click.option("--customer", "customer_id", required=True, help="Customer id.")
@click.option("--date", "day", required=True, callback=parse_day, help="Day, YYYY-MM-DD.")
@click.pass_context
def revisions(ctx: click.Context, customer_id: str, day: date) -> None:
    """List every revision of a customer's file of one day, oldest first."""
    with opened(ctx) as app:
        if app.store.get_customer(customer_id) is None:
            raise click.BadParameter(f"no customer {customer_id!r}", param_hint="--customer")
        found = app.store.list_revisions(customer_id, day.isoformat())
    rows = [
        (
            str(r.revision),
            r.status,
            r.file_name,
            str(r.rows),
            f"{r.actual_slots}/{r.slots}",
            _utc(r.created_at),
            r.sha256[:16],
        )
        for r in found
    ]
    if not rows:
        click.echo(f"no file of {day} has been published for {customer_id}")
        return
    table(("revision", "status", "file", "rows", "actual", "created_utc", "sha256"), rows)


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
