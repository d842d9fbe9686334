"""The watch function, run on a schedule: one round of kenshin's alert rules over what
the store holds, and the sending of what is due, as ``kenshin serve`` does every
``alerts.evaluate_seconds``. It writes the metric ``SilentUnits``: the units the rules
find silent."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kenshin.bootstrap import App
from kenshin.entrypoints.aws_lambda.runtime import cold_start, emit_metrics, now
from kenshin.entrypoints.watching import server_certificates
from kenshin.services.alerting import Alerting
from kenshin.services.rounds import WatchRound
from kenshin.watch_setup import alert_channels

log = logging.getLogger(__name__)


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Evaluate the rules now and send what is due; what the round found."""
    app = cold_start.app
    if not app.settings.alerts.enabled:
        log.warning("alerts.enabled is false: no rule is evaluated")
        return {"enabled": False}
    watch = cold_start.kept("watch", _watch)
    done = watch.run(now(), server_certificates(app))
    emit_metrics({"SilentUnits": done.silent_units})
    return {
        "enabled": True,
        "active": sorted(state.alert.key for state in done.plan.states),
        "notified": len(done.plan.notifications),
        "silent_units": done.silent_units,
    }


def _watch(app: App) -> WatchRound:
    """The rules and channels of the settings, kept between rounds (channels' retries)."""
    settings = app.settings
    channels = alert_channels(settings, app.data_dir)
    alerting = Alerting(
        app.store,
        channels.values(),
        settings.alerts,
        collect_by_hours=settings.deliveries.collect_by_hours,
    )
    return WatchRound(app.store, alerting, settings.report.timezone)
