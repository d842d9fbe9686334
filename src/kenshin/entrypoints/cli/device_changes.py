"""Commands that change a device after it was added: move it to another customer, remove it."""

from __future__ import annotations

import time

import click

from kenshin.bootstrap import App
from kenshin.domain.model import Device
from kenshin.entrypoints.cli.app import cli_actor, known_customer, opened
from kenshin.entrypoints.cli.devices import deactivate_things, devices
from kenshin.entrypoints.cli.listing import moment
from kenshin.iot_setup import unit_things
from kenshin.services import audit
from kenshin.services.device_admin import move_device

LIVE_S = 3600  # a unit heard this recently is taken to be in use


def _device(app: App, device_id: str) -> Device:
    device = app.store.registry.get_device(device_id)
    if device is None:
        raise click.BadParameter(
            f"no device {device_id!r}; 'kenshin devices list' shows the devices",
            param_hint="DEVICE_ID",
        )
    return device


@devices.command("move")
@click.argument("device_id")
@click.option("--customer", required=True, help="Customer the device is to belong to.")
@click.option("--force", is_flag=True, help="Move it although its meters have readings.")
@click.pass_context
def devices_move(ctx: click.Context, device_id: str, customer: str, force: bool) -> None:
    """Give device DEVICE_ID, and the meters it reports, to another customer. Its
    certificates stay valid. A device whose meters have readings needs --force: a file
    made again of an earlier day then shows them under the new customer, not the old one
    (files already published are not changed)."""
    with opened(ctx) as app:
        device = _device(app, device_id)
        if device.customer == customer:
            click.echo(f"{device_id} belongs to {customer} already; nothing to do")
            return
        known_customer(app, customer)
        meters = app.store.registry.list_meters(device_id=device_id)
        if meters and not force:
            raise click.UsageError(
                f"{device_id} reports {len(meters)} meter(s) with readings of {device.customer}:"
                f" a file made again of an earlier day would show them under {customer}."
                " Give --force to move it all the same (or add a new device for the new"
                " customer)"
            )
        by = (app.store.audit, cli_actor())
        move_device(app.store.registry, by, device_id, customer, now=int(time.time()))
    click.echo(
        f"moved {device_id} from {device.customer} to {customer} with {len(meters)} meter(s);"
        " files already published are not changed"
    )


@devices.command("remove")
@click.argument("device_id")
@click.option("--force", is_flag=True, help="Remove it although it was heard in the last hour.")
@click.pass_context
def devices_remove(ctx: click.Context, device_id: str, force: bool) -> None:
    """Take device DEVICE_ID out of service: revoke its certificates (a unit connected
    with one is disconnected within 60 seconds) and end the time in service of its
    meters now, so that later days have no rows of them and raise no alerts. Its
    readings are kept, and so are the files of the days before. A unit heard in the last
    hour needs --force. With iot_core.enabled, its certificates on AWS IoT Core are then
    made inactive."""
    now = int(time.time())
    with opened(ctx) as app:
        things = unit_things(app)
        device = _device(app, device_id)
        seen = app.store.unit_clocks.last_seen().get(device_id)
        if seen is not None and now - seen < LIVE_S and not force:
            raise click.UsageError(
                f"{device_id} was heard {(now - seen) // 60} minute(s) ago: it is in use."
                " Give --force to remove it all the same"
            )
        revoked = app.store.certificates.revoke_device(device_id, now)
        meters = app.store.registry.list_meters(device_id=device_id)
        ending = [(m.id, m.installed_at, now) for m in meters if m.removed_at is None]
        ending = [(m, fitted, end) for m, fitted, end in ending if fitted is None or fitted < end]
        app.store.registry.set_service(ending, by_operator=True)
        audit.record(
            app.store.audit,
            cli_actor(),
            action="devices.remove",
            kind="device",
            key=device_id,
            before={"customer": device.customer},
            after={"revoked": revoked, "meters_out_of_service": [m for m, _, _ in ending]},
            clock=lambda: now,
        )
        customer = app.store.registry.get_customer(device.customer)
        when = moment(now, customer.timezone if customer else None)
    assert when is not None
    click.echo(
        f"removed {device_id} of {device.customer}: revoked {revoked} certificate(s);"
        f" {len(ending)} meter(s) out of service from {when.isoformat(timespec='minutes')};"
        " its readings are kept"
    )
    if things is not None:
        deactivate_things(things, [device_id])
