"""The export function, run on a schedule: one round of the scheduled export, as
``kenshin serve`` runs every ``schedule.export_minutes`` (the customers' due days,
restated days, expired files and readings, files not collected in time, gap recovery),
writing the files to the outbox of the settings (on AWS, the S3 bucket). It writes the
metric ``ExportFailures``: the customers whose export failed (1 when the run failed as a
whole, which the function then raises)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kenshin.bootstrap import App
from kenshin.entrypoints.aws_lambda.runtime import cold_start, emit_metrics, now

log = logging.getLogger(__name__)


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Export what is due now; what the run did."""
    rounds = cold_start.kept("export", App.export_round)
    at = now()
    try:
        run = rounds.export(at)
    except Exception:
        emit_metrics({"ExportFailures": 1})
        raise
    emit_metrics({"ExportFailures": len(run.failures)})
    for customer, why in run.failures.items():
        log.error("export of customer %s failed: %s", customer, why)
    rounds.follow_up(at)
    return {
        "written": sorted(f"{o.customer}/{o.file_name}" for o in run.outcomes if o.changed),
        "unchanged": sum(not o.changed for o in run.outcomes),
        "removed": run.removed,
        "failures": run.failures,
    }
