"""The command that brings AWS IoT Core in step with kenshin's store: ``kenshin devices
sync-iot``, the retry of what ``devices add`` and ``devices revoke`` could not finish there."""

from __future__ import annotations

import time
from pathlib import Path

import click

from kenshin.entrypoints.cli.app import cli_actor, opened
from kenshin.entrypoints.cli.devices import devices
from kenshin.iot_setup import certificate_files, unit_things
from kenshin.services.things import Synced, sync


@devices.command("sync-iot")
@click.argument("device_ids", nargs=-1)
@click.option(
    "--certificates",
    "folder",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of the units' certificates (ID.pem) as 'devices add --out' wrote them.",
)
@click.pass_context
def devices_sync_iot(ctx: click.Context, device_ids: tuple[str, ...], folder: Path | None) -> None:
    """Bring AWS IoT Core in step with kenshin's store for DEVICE_IDS... (default: every
    device): the certificates of a device that the store holds revoked or expired are
    made inactive there, and a device with a valid certificate not active there is
    enrolled with its file in --certificates (its thing made, the certificate attached
    to it and to the units' policy, then active). Exit status 1 if one is left to do."""
    with opened(ctx) as app:
        things = unit_things(app)
        if things is None:
            raise click.UsageError(
                "iot_core.enabled is off: this site's units do not connect to AWS IoT Core"
                " (docs/aws.md)"
            )
        known = [d.id for d in app.store.registry.list_devices()]
        unknown = sorted(set(device_ids) - set(known))
        if unknown:
            raise click.BadParameter(
                f"no device {unknown[0]!r}; 'kenshin devices list' shows the devices",
                param_hint="DEVICE_IDS",
            )
        ids = list(dict.fromkeys(device_ids)) or known
        found = certificate_files(folder) if folder is not None else (lambda _device: None)
        by = (app.store.audit, cli_actor())
        synced = sync(things, app.store.certificates, ids, found, by=by, now=int(time.time()))
    _show(synced, things.where, len(ids), folder)


def _show(synced: Synced, where: str, checked: int, folder: Path | None) -> None:
    """One line per device changed, a summary, and what is left (exit status 1)."""
    for device_id, count in synced.deactivated.items():
        click.echo(f"{device_id}: {count} certificate(s) made inactive")
    for device_id in synced.enrolled:
        click.echo(f"{device_id}: certificate active, attached to its thing and the units' policy")
    if synced.failed is None:
        click.echo(
            f"on {where}: {checked} device(s) looked at, {len(synced.enrolled)} enrolled,"
            f" {len(synced.deactivated)} with certificates made inactive"
        )
    problems = [
        f"{device_id}: no valid certificate of it is active on {where}, and"
        + (
            " no --certificates folder was given"
            if folder is None
            else f" {folder} holds no {device_id}.pem of one"
        )
        + ": give the folder 'devices add --out' wrote it to, or issue it a new one"
        f" ('kenshin devices add {device_id} --customer CUSTOMER --out DIR --force')"
        for device_id in synced.unfound
    ]
    if synced.failed is not None:
        problems.append(f"{synced.error}\nthe devices after {synced.failed} were not looked at")
    if problems:
        raise click.ClickException("\n".join(problems))
