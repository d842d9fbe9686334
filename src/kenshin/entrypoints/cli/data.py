"""Commands that move data: import, export, prune, dead-letters, conflicts."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import BinaryIO

import click

from kenshin.bootstrap import App
from kenshin.domain.file_names import customer_zone
from kenshin.domain.slots import local_day
from kenshin.entrypoints.cli.app import cli, opened, parse_day
from kenshin.entrypoints.cli.listing import (
    json_option,
    moment,
    show,
    table,
    text_cell,
    utc_option,
)
from kenshin.errors import KenshinError, NotFoundError
from kenshin.import_processes import import_file, processes_for
from kenshin.services import fleet_lists
from kenshin.services.export import ExportOutcome, remove_expired
from kenshin.services.imports import import_lines
from kenshin.services.incoming import IngestSummary
from kenshin.services.schedule import DayRange, ExportRequest, export_due

CONFLICT_KEYS = (
    "meter",
    "device",
    "t",
    "stored_fwd",
    "stored_rev",
    "received_fwd",
    "received_rev",
    "received_at",
)


@cli.command("import", short_help="Store the readings of a JSON-lines file.")
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option(
    "--processes",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Processes importing parts of the file (0: one per core; standard input: one).",
)
@click.pass_context
def import_(ctx: click.Context, source: Path, processes: int) -> None:
    """Store the JSON v1 messages of SOURCE (JSON lines; '-' reads standard input).

    Every line that cannot be used is kept as a dead letter with its reason
    ('kenshin dead-letters' lists them); the good lines are stored. A large file
    is cut into parts at line ends, imported by as many processes (at most one
    per 8 MiB); each message is named by its file and line all the same.
    """
    with opened(ctx) as app:
        summary = import_stream(app, source, processes)
    click.echo(
        f"{summary.messages} messages, {summary.readings} readings: "
        f"{summary.stored} stored, {summary.duplicates} duplicates, "
        f"{summary.conflicts} conflicts kept aside, {summary.dead_letters} dead letters"
    )
    if summary.quarantined:
        click.echo(f"{summary.quarantined} readings dated in the future quarantined")
    if summary.outside_service:
        click.echo(
            f"{summary.outside_service} readings after their meter was taken out of service"
            " by an operator: stored, outside its time in service"
            f" ({', '.join(sorted(summary.outside_meters))})"
        )
    if summary.meters_discovered:
        click.echo(f"{summary.meters_discovered} new meters discovered")
    if summary.conflicts:
        click.echo("conflicting readings: see 'kenshin conflicts'")
    if summary.dead_letters:
        click.echo("dead letters and their reasons: see 'kenshin dead-letters'")


def import_stream(app: App, source: Path, processes: int = 1) -> IngestSummary:
    """Ingest a JSON-lines file (or "-" for stdin) in batches, with progress shown on
    stderr; a file in up to ``processes`` processes (0: one per core)."""
    stdin = str(source) == "-"
    name = "stdin" if stdin else source.name
    batch_size = app.settings.ingest.batch_messages
    with _input(source) as stream:
        size = None if stdin else os.fstat(stream.fileno()).st_size
        workers = 1 if size is None else processes_for(app.settings, processes, size)
        with _progress(name, size) as step:
            if workers > 1:
                return import_file(app, source, workers, batch_size=batch_size, progress=step)
            return import_lines(
                app.ingest(), stream, name, batch_size=batch_size, clock=time.time, progress=step
            )


@contextmanager
def _input(source: Path) -> Iterator[BinaryIO]:
    if str(source) == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = source.open("rb")
    except OSError as exc:
        raise click.FileError(str(source), hint=exc.strerror) from exc
    with stream:
        yield stream


@contextmanager
def _progress(label: str, size: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar over ``size`` bytes; without a size, a line count every 100,000 lines."""
    if size is not None:
        with click.progressbar(length=size, label=f"importing {label}", file=sys.stderr) as bar:
            yield bar.update
        return
    lines = 0

    def count(_consumed: int) -> None:
        nonlocal lines
        lines += 1
        if lines % 100_000 == 0:
            click.echo(f"importing {label}: {lines} lines", err=True)

    yield count


@cli.command(short_help="Write customers' daily files.")
@click.option("--customer", "customer_ids", multiple=True, help="Customer to export (repeatable).")
@click.option("--all", "all_customers", is_flag=True, help="Export every customer.")
@click.option(
    "--date",
    "day",
    callback=parse_day,
    help="Local day YYYY-MM-DD (default: today, and the last 3 days not yet final).",
)
@click.option("--from", "first", callback=parse_day, help="First day of a range, YYYY-MM-DD.")
@click.option("--to", "last", callback=parse_day, help="Last day of a range, YYYY-MM-DD.")
@click.pass_context
def export(
    ctx: click.Context,
    customer_ids: tuple[str, ...],
    all_customers: bool,
    day: date | None,
    first: date | None,
    last: date | None,
) -> None:
    """Write customers' daily files into the outbox and print each file.

    Without a date, exports each customer's local today (provisional) and every
    one of the last 3 days that is not final yet, so that a day becomes final
    once its grace period is over.
    """
    if bool(customer_ids) == all_customers:
        raise click.UsageError("give --customer ID (one or more) or --all")
    if day is not None and (first or last):
        raise click.UsageError("give --date, or --from and --to, not both")
    if (first is None) != (last is None) or (first and last and first > last):
        raise click.UsageError("--from and --to go together, with --from not after --to")
    asked = DayRange(first, last) if first is not None and last is not None else day
    request = ExportRequest(customer_ids, asked, restated=False, remove_expired=False)
    with opened(ctx) as app:
        _check_not_after_today(app, customer_ids, last or day, "--to" if last else "--date")
        try:
            run = export_due(
                app.store,
                app.outbox,
                app.export_settings,
                now=int(time.time()),
                request=request,
                on_outcome=lambda outcome: click.echo(_describe(app, outcome)),
                elsewhere=app.export_elsewhere(),
            )
        except NotFoundError as exc:
            raise click.BadParameter(str(exc), param_hint="--customer") from exc
    retention = app.export_settings.retention_days
    for customer_id, oldest in run.skipped_before.items():
        click.echo(
            f"{customer_id}: skipping the days before {oldest}, older than the "
            f"{retention}-day retention of files",
            err=True,
        )
    for customer_id, why in run.failures.items():
        click.echo(f"Error: customer {customer_id}: {why}", err=True)
    if run.failures:
        failed = list(run.failures)
        raise click.ClickException(f"export failed for {len(failed)} customer(s): {failed}")


def _check_not_after_today(
    app: App, customer_ids: tuple[str, ...], last: date | None, option: str
) -> None:
    """Refuse a day after today in a customer's time zone before anything is made: its
    file would hold no readings, only gaps (the export itself refuses it too)."""
    if last is None:
        return
    registry, now = app.store.registry, int(time.time())
    found = [registry.get_customer(c) for c in customer_ids]
    for customer in [c for c in found if c] if customer_ids else registry.list_customers():
        try:
            today = local_day(now, customer_zone(customer))
        except KenshinError:
            continue  # the export names the customer's unknown zone
        if last > today:
            raise click.BadParameter(
                f"{last} is after today ({today} in {customer.timezone}, the time zone of"
                f" customer {customer.id!r}): give a day up to today",
                param_hint=option,
            )


def _describe(app: App, outcome: ExportOutcome) -> str:
    path = app.outbox_location(outcome.customer, outcome.file_name)
    what = "written" if outcome.changed else "unchanged"
    # Measured and estimated slots both have a value; an estimate is not a gap.
    valued = outcome.actual_slots + outcome.estimated_slots
    estimated = f" ({outcome.estimated_slots} estimated)" if outcome.estimated_slots else ""
    return (
        f"{path}  revision {outcome.revision} {outcome.status} {what}: "
        f"{outcome.rows} rows, {valued}/{outcome.slots} slots with a value{estimated}"
    )


@cli.command(short_help="Remove files older than the retention.")
@click.pass_context
def prune(ctx: click.Context) -> None:
    """Remove customer files older than the retention period (export.retention_days),
    each named with its size (in an outbox folder), then the totals. Records in the
    store (readings, revisions, receipts) are kept."""
    now = int(time.time())
    files = size = 0
    with opened(ctx) as app:
        days = app.settings.export.retention_days
        folder = app.settings.export.s3_outbox is None
        for customer in app.store.registry.list_customers():
            sizes = _sizes(app, customer.id) if folder else {}
            for name in remove_expired(app.outbox, customer, now=now, retention_days=days):
                files, size = files + 1, size + sizes.get(name, 0)
                shown = f" ({sizes.get(name, 0):,} bytes)" if folder else ""
                click.echo(f"removed {customer.id}/{name}{shown}")
    if not files:
        click.echo(f"nothing to remove: no file is older than the {days}-day retention")
    else:
        click.echo(f"removed {files} file(s)" + (f", {size:,} bytes in all" if folder else ""))
    click.echo("records in the store removed: none (readings, revisions and receipts are kept)")


def _sizes(app: App, customer_id: str) -> dict[str, int]:
    """The sizes of the customer's files in the outbox folder, by name."""
    folder = app.outbox_dir / customer_id
    return {p.name: p.stat().st_size for p in folder.glob("*") if p.is_file()}


@cli.command("dead-letters", short_help="List messages that could not be used.")
@click.option(
    "--limit", type=click.IntRange(1), default=100, show_default=True, help="Most to list."
)
@utc_option
@json_option
@click.pass_context
def dead_letters(ctx: click.Context, limit: int, utc: bool, as_json: bool) -> None:
    """List the newest messages that could not be used, oldest of them first, with the
    reason for each (times in the zone of the device's customer where it is known, else
    UTC)."""
    with opened(ctx) as app:
        total = app.store.dead_letters.count_dead_letters()
        found = fleet_lists.dead_letters(app.store, limit, newest=True)[::-1]
    records = [
        {
            "received_at": moment(d.letter.received_at, None if utc else d.zone),
            "source": d.letter.source,
            "device": d.letter.device,
            "reason": d.letter.reason,
        }
        for d in found
    ]
    if as_json:
        show(("received_at", "source", "device", "reason"), records, as_json)
        return
    for r in records:
        click.echo(
            "  ".join(text_cell(r[c]) for c in ("received_at", "source", "device", "reason"))
        )
    older = (
        f", the {total - len(records)} older not listed (--limit)" if total > len(records) else ""
    )
    click.echo(f"{total} dead letters in all{older}")


@cli.command(short_help="List readings that came again with another value.")
@click.option(
    "--limit", type=click.IntRange(1), default=100, show_default=True, help="Most to list."
)
@utc_option
@json_option
@click.pass_context
def conflicts(ctx: click.Context, limit: int, utc: bool, as_json: bool) -> None:
    """List readings that arrived again with a different value, oldest first: the meter,
    its device, the reading's time, the value stored (kept: the one its unit sent first)
    and the other, and when the second of the two was received (times in the zone of the
    meter's customer)."""
    with opened(ctx) as app:
        found = fleet_lists.conflicts(app.store, limit)
    records = []
    for z in found:
        c, where = z.conflict, None if utc else z.zone
        records.append(
            {
                "meter": c.meter,
                "device": z.device,
                "t": moment(c.t, where),
                "stored_fwd": c.stored_fwd,
                "stored_rev": c.stored_rev,
                "received_fwd": c.new_fwd,
                "received_rev": c.new_rev,
                "received_at": moment(c.received_at, where),
            }
        )
    if as_json:
        show(CONFLICT_KEYS, records, as_json)
        return
    rows = [
        (
            str(r["meter"]),
            text_cell(r["device"]),
            text_cell(r["t"]),
            _registers(z.conflict.stored_fwd, z.conflict.stored_rev),
            _registers(z.conflict.new_fwd, z.conflict.new_rev),
            text_cell(r["received_at"]),
        )
        for r, z in zip(records, found, strict=True)
    ]
    table(("meter", "device", "time", "stored", "other", "received"), rows)
    click.echo(f"{len(found)} conflict{'' if len(found) == 1 else 's'} listed")


def _registers(fwd: int | None, rev: int | None) -> str:
    """A reading's registers as fwd=N,rev=N (those it has)."""
    parts = [f"{name}={v}" for name, v in (("fwd", fwd), ("rev", rev)) if v is not None]
    return ",".join(parts) or "-"
