"""Commands on devices: add them (and issue their certificates), revoke, list, ask for a resend."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from kenshin.bootstrap import App
from kenshin.domain.commands import RESEND, command_topic
from kenshin.domain.devices import DEVICE_VALID_DAYS, DeviceCertificate
from kenshin.domain.model import DEVICE_ID
from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import (
    check_timezone,
    cli,
    cli_actor,
    known_customer,
    opened,
    parse_moment,
)
from kenshin.entrypoints.cli.listing import json_option, moment, show, utc_option
from kenshin.entrypoints.cli.registry import _check_id, ids_from_file
from kenshin.iot_setup import unit_things
from kenshin.ports.things import Things
from kenshin.services.device_admin import (
    DeviceAdminError,
    certificate_state,
    queue_resend,
    revoke_devices,
)
from kenshin.services.enrolment import (
    CredentialsInTheWay,
    DevicesTaken,
    Enrolment,
    Issue,
    UnknownCustomer,
    enrol,
)
from kenshin.services.things import ThingsDone, enrol_things, revoke_things
from kenshin.watch_setup import unit_infos

DEVICE_COLUMNS = ("id", "customer", "last_seen", "firmware", "signal_dbm", "certificate")
FUTURE_SLACK_S = 300  # --to may be this far ahead of this machine's clock
SHOWN_IDS = 10  # a retry command names at most this many devices (else: all of them)


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
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Issue each device a certificate: write ID.pem, ID.key and ca.pem here.",
)
@click.option(
    "--valid-days",
    type=click.IntRange(1, 7300),
    default=DEVICE_VALID_DAYS,
    show_default=True,
    help="With --out: days the certificates are valid.",
)
@click.option("--force", is_flag=True, help="With --out: replace the files found there.")
@click.pass_context
def devices_add(
    ctx: click.Context,
    device_ids: tuple[str, ...],
    customer: str,
    id_file: TextIO | None,
    out_dir: Path | None,
    valid_days: int,
    force: bool,
) -> None:
    """Add devices DEVICE_IDS... to a customer; ids it has already are skipped.
    With --out, each device listed gets a new certificate (CN = its id), recorded
    in the store; its key is written 0600. With iot_core.enabled, each certificate is
    then registered on AWS IoT Core too: attached to the unit's thing and the units'
    policy, and active."""
    ids = list(dict.fromkeys([*device_ids, *(ids_from_file(id_file) if id_file else [])]))
    if not ids:
        raise click.UsageError("give at least one DEVICE_ID or --file FILE")
    for device_id in ids:
        _check_id(DEVICE_ID, device_id, "device")
    if force and out_dir is None:
        raise click.UsageError("--force replaces certificate files: give --out DIR too")
    if out_dir is not None and any(i.lower() == "ca" for i in ids):
        raise click.UsageError("a device named 'ca' cannot get files by --out: ca.pem is the CA's")
    with opened(ctx) as app:
        things = unit_things(app)
        _check_things(things, ids)
        issue = None
        if out_dir is not None:
            out = app.credentials_folder(out_dir)
            issue = Issue(app.certificate_authority(), out, valid_days, replace=force)
        enrolment = _enrol(app, customer, ids, issue, out_dir)
        done = enrol_things(things, enrolment.certificates) if things is not None else None
    click.echo(
        f"added {len(enrolment.added)} device(s) to {customer}; {enrolment.already} already there"
    )
    if enrolment.not_after is not None:
        click.echo(
            f"wrote {enrolment.issued} certificate(s) valid until {_day(enrolment.not_after)}"
            f" to {out_dir}: ID.pem, ID.key (keep it secret) and ca.pem"
        )
    if things is not None and done is not None and enrolment.certificates:
        _show_enrolled(things, done, [d for d, _ in enrolment.certificates], out_dir)


def _check_things(things: Things | None, ids: list[str]) -> None:
    """UsageError, before anything changes, for ids that cannot name a thing."""
    unfit = things.unfit(ids) if things is not None else []
    if things is not None and unfit:
        raise click.BadParameter(
            f"{unfit[0]!r} cannot name a thing on {things.where}: a device id there is made"
            " of letters, digits and ':_-'",
            param_hint="DEVICE_IDS",
        )


def _show_enrolled(things: Things, done: ThingsDone, ids: list[str], out_dir: Path | None) -> None:
    """Say what was done on the cloud broker; ClickException, with the command that
    finishes the work, if it stopped part way."""
    if done.failed is None:
        click.echo(
            f"on {things.where}: {len(done.done)} certificate(s) active, each attached to its"
            " unit's thing and to the units' policy"
        )
        return
    left = ids[len(done.done) :]
    raise click.ClickException(
        f"{done.error}\n{len(done.done)} of {len(ids)} certificate(s) made active there; they"
        f" are all issued, recorded and written to {out_dir}: once the cause is fixed,"
        f" 'kenshin devices sync-iot --certificates {out_dir}{_some(left)}' registers the rest"
    )


def _some(ids: Sequence[str]) -> str:
    """The ids as a command's arguments (with a space before), none if they are many."""
    return "" if len(ids) > SHOWN_IDS else "".join(f" {i}" for i in ids)


def _enrol(
    app: App, customer: str, ids: list[str], issue: Issue | None, out_dir: Path | None
) -> Enrolment:
    """Enrol the devices; the service's refusals as the command line's."""
    try:
        by = (app.store.audit, cli_actor())
        return enrol(app.store, customer, ids, now=int(time.time()), issue=issue, by=by)
    except UnknownCustomer as exc:
        raise click.BadParameter(str(exc), param_hint="--customer") from exc
    except DevicesTaken as exc:
        raise click.UsageError(str(exc)) from exc
    except CredentialsInTheWay as exc:
        if exc.other is not None:
            raise click.UsageError(
                f"{exc.other} is another certificate authority's: use another --out folder"
            ) from exc
        raise click.UsageError(
            f"{out_dir} has files of these devices already: {', '.join(exc.found[:6])}; give"
            " --force to replace them (their certificates stay valid until revoked)"
        ) from exc


@devices.command("revoke")
@click.argument("device_ids", nargs=-1, required=True)
@click.pass_context
def devices_revoke(ctx: click.Context, device_ids: tuple[str, ...]) -> None:
    """Revoke every certificate of devices DEVICE_IDS...: a unit connected with one
    is disconnected within seconds (mqtt.revocation_check_s), nothing it sends after is
    stored, and it cannot connect with it again. With iot_core.enabled, its certificates
    on AWS IoT Core are then made inactive: IoT Core refuses them at connect, and
    disconnects a unit connected with one within minutes."""
    ids = list(dict.fromkeys(device_ids))
    with opened(ctx) as app:
        things = unit_things(app)
        unknown = [i for i in ids if app.store.registry.get_device(i) is None]
        if unknown:
            raise click.BadParameter(
                f"no device {unknown[0]!r}; 'kenshin devices list' shows the devices",
                param_hint="DEVICE_IDS",
            )
        done = revoke_devices(app.store, app.store.audit, cli_actor(), ids, now=int(time.time()))
        for revoked in done:
            click.echo(_revoked(revoked.device, revoked.count, revoked.certificates))
        if things is not None:
            deactivate_things(things, ids)


def deactivate_things(things: Things, ids: list[str]) -> None:
    """Make the devices' certificates inactive on the cloud broker and say so;
    ClickException, with the command that finishes the work, if it stopped part way."""
    counts, done = revoke_things(things, ids)
    for device_id, count in counts.items():
        made = f"{count} certificate(s) made inactive" if count else "no certificate active"
        click.echo(f"{device_id}: {made} on {things.where}")
    if done.failed is not None:
        left = ids[len(done.done) :]
        raise click.ClickException(
            f"{done.error}\nrevoked in kenshin's store all the same (its own endpoint refuses"
            " them); once the cause is fixed, 'kenshin devices sync-iot"
            f"{_some(left)}' makes them inactive there"
        )


def _revoked(device_id: str, count: int, certificates: list[DeviceCertificate]) -> str:
    if count:
        return (
            f"{device_id}: revoked {count} certificate(s); a unit connected with one is"
            " disconnected within seconds"
        )
    if certificates:
        return f"{device_id}: {certificate_state(certificates, int(time.time()))}; nothing to do"
    return f"{device_id}: no certificate to revoke ('kenshin devices add --out' issues one)"


@devices.command("list")
@click.option("--customer", help="Only the devices of this customer.")
@utc_option
@json_option
@click.pass_context
def devices_list(ctx: click.Context, customer: str | None, utc: bool, as_json: bool) -> None:
    """List devices: when each was last heard, its firmware and signal (RSRP, dBm) from
    its last status message, and its certificate: none, valid until DATE, revoked DATE
    or expired DATE (dates in UTC)."""
    now = int(time.time())
    with opened(ctx) as app:
        known_customer(app, customer)
        held: dict[str, list[DeviceCertificate]] = {}
        for certificate in app.store.certificates.list_certificates():
            held.setdefault(certificate.device, []).append(certificate)
        zones = {c.id: c.timezone for c in app.store.registry.list_customers()}
        units = [u for u in unit_infos(app.store) if customer in (None, u.customer)]
    records = [
        {
            "id": u.device,
            "customer": u.customer,
            "last_seen": moment(u.last_seen, None if utc else zones.get(u.customer)),
            "firmware": u.firmware,
            "signal_dbm": u.rsrp_dbm,
            "certificate": certificate_state(held.get(u.device, []), now),
        }
        for u in units
    ]
    show(DEVICE_COLUMNS, records, as_json)


def _optional_timezone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: an IANA time zone name, or None."""
    return None if value is None else check_timezone(ctx, param, value)


@devices.command("resend")
@click.argument("device_id")
@click.option(
    "--from",
    "start",
    required=True,
    metavar="YYYY-MM-DDTHH:MM",
    help="Time of the first reading wanted (in --timezone).",
)
@click.option(
    "--to", "end", required=True, metavar="YYYY-MM-DDTHH:MM", help="Time of the last one wanted."
)
@click.option(
    "--timezone",
    callback=_optional_timezone,
    help="Time zone of --from and --to (default: the device's customer's).",
)
@click.pass_context
def devices_resend(
    ctx: click.Context, device_id: str, start: str, end: str, timezone: str | None
) -> None:
    """Ask unit DEVICE_ID to send again its readings from --from to --to (a time with
    a UTC offset is taken as it is). The command is queued: it goes out when the unit
    is connected to 'kenshin serve' and subscribed to its commands, and again until
    the unit acknowledges it."""
    with opened(ctx) as app:
        device = app.store.registry.get_device(device_id)
        if device is None:
            raise click.BadParameter(
                f"no device {device_id!r}; 'kenshin devices list' shows the devices",
                param_hint="DEVICE_ID",
            )
        customer = app.store.registry.get_customer(device.customer)
        tz = zone(timezone or (customer.timezone if customer else "UTC"))
        first, last = parse_moment(start, tz, "--from"), parse_moment(end, tz, "--to")
        _check_range(first, last)
        try:
            command_id = queue_resend(
                app.store,
                app.store.audit,
                cli_actor(),
                device_id,
                int(first.timestamp()),
                int(last.timestamp()),
                now=int(time.time()),
            )
        except DeviceAdminError as exc:
            raise click.UsageError(str(exc)) from exc
    shown = f"{first.isoformat(timespec='minutes')} to {last.isoformat(timespec='minutes')}"
    click.echo(
        f"queued command {command_id}: {device_id} is to resend its readings from {shown}\n"
        f"it goes out on {command_topic(device_id, RESEND)} when the unit is connected and"
        " subscribed"
    )


def _check_range(first: datetime, last: datetime) -> None:
    """Refuse an empty range, or one that ends after now and a few minutes of clock skew."""
    if first >= last:
        raise click.UsageError("--from must be before --to")
    now = datetime.now(UTC)
    if last.timestamp() > now.timestamp() + FUTURE_SLACK_S:
        raise click.UsageError(
            f"--to is in the future (it is {now.astimezone(last.tzinfo):%Y-%m-%dT%H:%M} there"
            " now): a unit has no readings of it yet"
        )


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()
