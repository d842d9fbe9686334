"""The export function, run on a schedule: one round of the scheduled export, as
``kenshin serve`` runs every ``schedule.export_minutes`` (the customers' due days,
restated days, expired files and readings, files not collected in time, gap recovery),
writing the files to the outbox of the settings (on AWS, the S3 bucket). It writes the
metric ``ExportFailures``: the customers whose export failed (1 when the run failed as a
whole, which the function then raises).

Where ``iot_core.enabled`` (the stack sets it), the round ends by sending the units'
commands not acknowledged yet (gap recovery's resends among them) through AWS IoT Core,
each retained for a day on its unit's command topic and counted acknowledged once IoT
Core took it. What IoT Core does not take waits in the store for the next round: it
never fails the export.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kenshin.bootstrap import App
from kenshin.entrypoints.aws_lambda.runtime import cold_start, emit_metrics, now
from kenshin.iot_setup import unit_commands
from kenshin.services.command_sending import CommandSender

log = logging.getLogger(__name__)


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Export what is due now, then send the units' commands; what the run did."""
    rounds = cold_start.kept("export", App.export_round)
    at = now()
    try:
        try:
            run = rounds.export(at)
        except Exception:
            emit_metrics({"ExportFailures": 1})
            raise
        emit_metrics({"ExportFailures": len(run.failures)})
        for customer, why in run.failures.items():
            log.error("export of customer %s failed: %s", customer, why)
        rounds.follow_up(at)
    finally:
        sent = send_commands()  # whatever became of the export: they wait on nothing else
    return {
        "written": sorted(f"{o.customer}/{o.file_name}" for o in run.outcomes if o.changed),
        "unchanged": sum(not o.changed for o in run.outcomes),
        "removed": run.removed,
        "failures": run.failures,
        "commands_sent": sent,
    }


def send_commands() -> int:
    """Send the commands not acknowledged yet through IoT Core, where ``iot_core.enabled``:
    how many it took. A failure is logged, not raised: the commands wait for the next round."""
    try:
        link = cold_start.kept("commands", unit_commands)
        if link is None:
            return 0
        queue = cold_start.app.store.commands
        sent = CommandSender(queue, link, clock=now).send_new()
        waiting = len(queue.commands_after(0))
    except Exception:
        log.exception("the units' commands were not sent: they wait for the next round")
        return 0
    if sent or waiting:
        log.warning(
            "%d command(s) went to the units through AWS IoT Core; %d wait for the next round",
            sent,
            waiting,
        )
    return sent
