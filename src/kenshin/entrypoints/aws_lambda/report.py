"""The report function, run on a schedule once a day: the daily data-quality report of
the day before (in ``report.timezone``), sent through ``report.channel`` (an email or
ses channel) to ``report.recipients`` or the channel's."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kenshin.entrypoints.aws_lambda.runtime import cold_start, now
from kenshin.errors import ConfigError
from kenshin.services.report import send_report
from kenshin.watch_setup import (
    alert_channels,
    day_events,
    report_channel,
    report_settings,
    unit_infos,
)

log = logging.getLogger(__name__)


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Send the report of yesterday; its day and recipients. ConfigError if no channel
    is set to send it through."""
    app = cold_start.app
    if not app.settings.report.enabled:
        log.warning("report.enabled is false: no report is sent")
        return {"sent": None}
    channels = cold_start.kept("channels", lambda a: alert_channels(a.settings, a.data_dir))
    channel = report_channel(app.settings, channels)
    if channel is None:
        raise ConfigError(
            "report.channel: set it to an email or ses channel of alerts.channels to send"
            " the daily report (docs/report.md)"
        )
    settings = report_settings(app.settings, channels)
    at = now()
    day = settings.day_before(at)
    send_report(
        app.store,
        day,
        channel.deliver,
        now=at,
        settings=settings,
        export=app.export_settings,
        units=unit_infos(app.store),
        events=day_events(app.store, day, settings.timezone),
    )
    return {"sent": day.isoformat(), "recipients": list(settings.recipients)}
