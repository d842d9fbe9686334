"""The fleet at a glance: how many units are online, silent or never heard, how much came
in lately, how many dead letters and open alerts there are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kenshin.ports import Alerts, DeadLetters, Registry, UnitClocks

HOUR_S, DAY_S = 3600, 86_400


class OverviewPorts(Protocol):
    """What the overview reads. A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers and devices."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """When each unit was last heard."""

    @property
    def dead_letters(self) -> DeadLetters:
        """Messages that could not be used."""

    @property
    def alerts(self) -> Alerts:
        """The active alerts."""


@dataclass(frozen=True)
class Overview:
    """Registered units: ``online`` (heard within their customer's silent hours),
    ``silent`` (heard before, not since), ``never_seen``; units heard in the last hour,
    dead letters of the last day, open alerts, and when this was made (UTC epoch s)."""

    total: int
    online: int
    silent: int
    never_seen: int
    heard_last_hour: int
    dead_letters_last_day: int
    alerts_open: int
    generated_at: int


def overview(
    store: OverviewPorts,
    *,
    now: int,
    silent_hours: float,
    silent_hours_by_customer: Mapping[str, float] | None = None,
) -> Overview:
    """The overview at ``now``; a unit is silent after its customer's silent hours
    (``silent_hours_by_customer``, else ``silent_hours``), as the alert rule says."""
    own = silent_hours_by_customer or {}
    devices = store.registry.list_devices()
    seen = store.unit_clocks.last_seen()
    online = silent = never = 0
    for device in devices:
        heard = seen.get(device.id)
        if heard is None:
            never += 1
        elif now - heard <= own.get(device.customer, silent_hours) * HOUR_S:
            online += 1
        else:
            silent += 1
    return Overview(
        total=len(devices),
        online=online,
        silent=silent,
        never_seen=never,
        heard_last_hour=sum(1 for d in devices if now - seen.get(d.id, -DAY_S) <= HOUR_S),
        dead_letters_last_day=store.dead_letters.count_dead_letters(since=now - DAY_S),
        alerts_open=len(store.alerts.alert_states()),
        generated_at=now,
    )
