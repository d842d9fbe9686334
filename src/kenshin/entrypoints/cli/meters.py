"""Commands on meters (found in their devices' messages) and on published file revisions."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import click

from kenshin.domain.energy import UNIT_LABEL
from kenshin.entrypoints.cli.app import cli, cli_actor, known_customer, opened, parse_day
from kenshin.entrypoints.cli.listing import device_zones, json_option, moment, show, utc_option
from kenshin.services.meter_admin import set_max_demand, set_service

METER_COLUMNS = (
    "id",
    "device",
    "unit",
    "coefficient",
    "digits",
    "max_demand_kw",
    "max_demand_of",
    "installed",
    "removed",
)
MAX_DEMAND_KW = 10_000_000  # far above any meter: a guard against a typo of units


@cli.group(short_help="Meters: found in their devices' messages.")
def meters() -> None:
    """Meters: each reported by one device, registered the first time it is seen."""


@meters.command("list")
@click.option("--customer", help="Only the meters of this customer's devices.")
@click.option("--device", help="Only the meters of this device.")
@utc_option
@json_option
@click.pass_context
def meters_list(
    ctx: click.Context, customer: str | None, device: str | None, utc: bool, as_json: bool
) -> None:
    """List meters with their unit, coefficient, digits, maximum demand (the meter's own,
    or the configured default) and time in service."""
    with opened(ctx) as app:
        known_customer(app, customer)
        found = app.store.registry.list_meters(customer, device_id=device)
        default_w = app.settings.meters.max_demand_kw * 1000
        zones = {} if utc else device_zones(app.store)
    records = [
        {
            "id": m.id,
            "device": m.device,
            "unit": UNIT_LABEL.get(m.spec.unit_mwh, f"{m.spec.unit_mwh} mWh"),
            "coefficient": m.spec.coefficient,
            "digits": m.spec.digits,
            "max_demand_kw": _kw(m.demand_limit_w(default_w)),
            "max_demand_of": "default" if m.max_demand_w is None else "meter",
            "installed": moment(m.installed_at, zones.get(m.device)),
            "removed": moment(m.removed_at, zones.get(m.device)),
        }
        for m in found
    ]
    show(METER_COLUMNS, records, as_json)


@meters.command("set")
@click.argument("meter_id")
@click.option(
    "--max-demand-kw",
    type=click.IntRange(1, MAX_DEMAND_KW),
    required=True,
    help="Highest demand the meter can see (default: meters.max_demand_kw x its "
    "coefficient); a register that went down by more than it allows in a half hour was "
    "reset or exchanged, not rolled over.",
)
@click.pass_context
def meters_set(ctx: click.Context, meter_id: str, max_demand_kw: int) -> None:
    """Set a meter's own maximum demand, in place of the configured default."""
    with opened(ctx) as app:
        meter = app.store.registry.get_meter(meter_id)
        if meter is None:
            raise click.BadParameter(
                f"no meter {meter_id!r}; 'kenshin meters list' shows the known ones",
                param_hint="METER_ID",
            )
        by = (app.store.audit, cli_actor())
        set_max_demand(app.store.registry, by, meter_id, max_demand_kw * 1000, now=int(time.time()))
    click.echo(f"{meter_id}: maximum demand {max_demand_kw} kW")


@meters.command("service")
@click.argument("meter_id")
@click.option(
    "--installed",
    callback=lambda _c, _p, v: _instant(v, "--installed"),
    help="When it was fitted, ISO 8601 with offset ('none' to forget it).",
)
@click.option(
    "--removed",
    callback=lambda _c, _p, v: _instant(v, "--removed"),
    help="When it was taken out, ISO 8601 with offset ('none': in service).",
)
@click.pass_context
def meters_service(
    ctx: click.Context, meter_id: str, installed: int | str | None, removed: int | str | None
) -> None:
    """Set a meter's time in service: before it was fitted and after it was taken out,
    its slots are not missing and never estimated, and a day wholly outside has no row.
    An exchange reported by a unit of one meter is recorded by itself; this is for a unit
    of several meters, or to correct one. The next export restates the days it changes."""
    with opened(ctx) as app:
        meter = app.store.registry.get_meter(meter_id)
        if meter is None:
            raise click.BadParameter(
                f"no meter {meter_id!r}; 'kenshin meters list' shows the known ones",
                param_hint="METER_ID",
            )
        fitted = _chosen(installed, meter.installed_at)
        taken = _chosen(removed, meter.removed_at)
        if fitted is not None and taken is not None and taken <= fitted:
            raise click.BadParameter("must be after --installed", param_hint="--removed")
        # A removal given here is the operator's: later readings do not undo it.
        set_service(
            app.store.registry,
            (app.store.audit, cli_actor()),
            meter_id,
            installed=fitted,
            removed=taken,
            removed_given=removed is not None,
            now=int(time.time()),
        )
    shown = [f"installed {_utc(fitted) if fitted else 'unknown'}"]
    shown.append(f"removed {_utc(taken)}" if taken else "in service")
    click.echo(f"{meter_id}: {', '.join(shown)} (UTC)")


def _chosen(value: int | str | None, before: int | None) -> int | None:
    """The option's instant, or ``before`` where it was not given ("keep")."""
    return before if isinstance(value, str) else value


def _instant(value: str | None, option: str) -> int | str | None:
    """Click callback: an ISO 8601 time with offset as epoch s, 'none', or 'keep'."""
    if value is None:
        return "keep"
    if value.lower() == "none":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r}: expected an ISO 8601 time with offset, e.g. 2026-11-26T10:30+09:00",
            param_hint=option,
        ) from exc
    if moment.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no UTC offset: add one, e.g. +09:00", param_hint=option
        )
    return int(moment.timestamp())


@cli.command(short_help="List the published revisions of a customer's day file.")
@click.option("--customer", "customer_id", required=True, help="Customer id.")
@click.option("--date", "day", required=True, callback=parse_day, help="Day, YYYY-MM-DD.")
@utc_option
@json_option
@click.pass_context
def revisions(ctx: click.Context, customer_id: str, day: date, utc: bool, as_json: bool) -> None:
    """List every revision of a customer's file of one day, oldest first."""
    with opened(ctx) as app:
        customer = app.store.registry.get_customer(customer_id)
        if customer is None:
            raise click.BadParameter(f"no customer {customer_id!r}", param_hint="--customer")
        found = app.store.revisions.list_revisions(customer_id, day.isoformat())
    records = [
        {
            "revision": r.revision,
            "status": r.status,
            "file": r.file_name,
            "rows": r.rows,
            "actual": f"{r.actual_slots}/{r.slots}",
            "created": moment(r.created_at, None if utc else customer.timezone),
            "sha256": r.sha256 if as_json else r.sha256[:16],
        }
        for r in found
    ]
    if not records and not as_json:
        click.echo(f"no file of {day} has been published for {customer_id}")
        return
    show(("revision", "status", "file", "rows", "actual", "created", "sha256"), records, as_json)


def _kw(watts: int) -> int | float:
    """Watts as kW, a whole number where it is one."""
    return watts // 1000 if watts % 1000 == 0 else watts / 1000


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
