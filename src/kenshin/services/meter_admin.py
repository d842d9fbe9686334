"""Changing meters by an operator: a meter's own maximum demand and its time in
service; each change in the audit log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from kenshin.domain.model import Meter
from kenshin.domain.operators import Actor
from kenshin.errors import KenshinError, NotFoundError
from kenshin.ports import Registry
from kenshin.ports.operators import AuditLog
from kenshin.services import audit


class BadServiceSpan(KenshinError):
    """A time in service that ends before it begins."""


def set_max_demand(
    registry: Registry, by: tuple[AuditLog, Actor], meter_id: str, watts: int, *, now: int
) -> Meter:
    """Give meter ``meter_id`` its own maximum demand (W) in place of the configured
    default (NotFoundError for an unknown meter); the meter as it was. One audit entry
    if it changed."""
    meter = _meter(registry, meter_id)
    if meter.max_demand_w != watts:
        registry.save_meters([replace(meter, max_demand_w=watts)])
        log, actor = by
        audit.record(
            log,
            actor,
            action="meters.set",
            kind="meter",
            key=meter_id,
            before={"max_demand_w": meter.max_demand_w},
            after={"max_demand_w": watts},
            clock=lambda: now,
        )
    return meter


def set_service(
    registry: Registry,
    by: tuple[AuditLog, Actor],
    meter_id: str,
    *,
    installed: int | None,
    removed: int | None,
    removed_given: bool,
    now: int,
) -> Meter:
    """Set meter ``meter_id``'s time in service from ``installed`` to ``removed`` (UTC
    epoch s; None: unknown, in service); a removal given (``removed_given``) is the
    operator's, which later readings do not undo. NotFoundError for an unknown meter,
    BadServiceSpan for a span that ends before it begins; the meter as it was. One audit
    entry if the span changed."""
    meter = _meter(registry, meter_id)
    if installed is not None and removed is not None and removed <= installed:
        raise BadServiceSpan("the removal must be after the installation")
    registry.set_service([(meter_id, installed, removed)], by_operator=removed_given or None)
    if (installed, removed) != (meter.installed_at, meter.removed_at):
        log, actor = by
        audit.record(
            log,
            actor,
            action="meters.service",
            kind="meter",
            key=meter_id,
            before=_span(meter.installed_at, meter.removed_at),
            after=_span(installed, removed),
            clock=lambda: now,
        )
    return meter


def _meter(registry: Registry, meter_id: str) -> Meter:
    meter = registry.get_meter(meter_id)
    if meter is None:
        raise NotFoundError(f"no meter {meter_id!r}")
    return meter


def _span(installed: int | None, removed: int | None) -> dict[str, object]:
    return {"installed": _iso(installed), "removed": _iso(removed)}


def _iso(t: int | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()
