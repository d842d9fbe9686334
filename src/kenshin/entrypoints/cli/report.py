"""``kenshin report``: the daily data-quality report of a day, on demand."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from kenshin.domain.report_render import render_csv, render_text
from kenshin.domain.slots import zone
from kenshin.entrypoints.cli.app import cli, opened, parse_day
from kenshin.ports import ChannelError
from kenshin.services.report import ReportError, report_email
from kenshin.watch_setup import alert_channels, report_channel, report_settings, site_report

NOT_CONFIGURED = (
    "sending the report by email is not configured: set report.channel to an email channel"
    " of alerts.channels (docs/report.md), or print it (without --send), or write it with"
    " --csv FILE and --email FILE and send that"
)


@cli.command(short_help="The data-quality report of a day.")
@click.option(
    "--date",
    "day",
    callback=parse_day,
    help="The local day reported, YYYY-MM-DD (default: yesterday).",
)
@click.option("--customer", "customer_id", help="Only this customer (default: every one).")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-meter detail to this CSV file.",
)
@click.option(
    "--email",
    "email_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the whole mail (text, HTML and CSV) to this .eml file.",
)
@click.option("--send", is_flag=True, help="Send the mail to the report's recipients.")
@click.pass_context
def report(
    ctx: click.Context,
    day: date | None,
    customer_id: str | None,
    csv_path: Path | None,
    email_path: Path | None,
    send: bool,
) -> None:
    """Print the data-quality report of a day: slots missing, estimated and
    questionable per meter, rules that fired and silent units, folded into one
    line per root cause with its likely cause and the next step; files not
    collected or collected late, security events, dead letters and unknown
    devices."""
    now = int(time.time())
    with opened(ctx) as app:
        channels = alert_channels(app.settings, app.data_dir)
        settings = report_settings(app.settings, channels)
        channel = report_channel(app.settings, channels)
        if send and channel is None:
            raise click.ClickException(NOT_CONFIGURED)
        if day is None:
            day = datetime.fromtimestamp(now, zone(settings.timezone)).date() - timedelta(days=1)
        try:
            found = site_report(
                app.store, app.export_settings, settings, day, now=now, customer_id=customer_id
            )
        except ReportError as exc:
            raise click.UsageError(str(exc)) from exc
    message = report_email(found, settings)
    if csv_path is not None:
        csv_path.write_bytes(render_csv(found))
    if email_path is not None:
        email_path.write_bytes(message.as_bytes())
    if send and channel is not None:
        try:
            channel.deliver(message)
        except ChannelError as exc:
            raise click.ClickException(f"the report was not sent: {exc}") from exc
        click.echo(f"sent the report of {day} to {', '.join(settings.recipients)}")
        return
    click.echo(render_text(found, settings.shown_meters), nl=False)
