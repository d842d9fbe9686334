"""What the fleet's lists show, for the command line and the admin API alike: dead
letters and conflicting readings, each with the time zone of its customer, and security
events with their severity."""

from __future__ import annotations

from dataclasses import dataclass

from kenshin.domain.alerts import Severity
from kenshin.domain.model import Conflict, DeadLetter, SecurityEvent
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.ports import Store

_KINDS = {k.value: k for k in SecurityEventKind}


@dataclass(frozen=True, slots=True)
class ZonedLetter:
    """A dead letter, with the time zone of its device's customer (None: not known)."""

    letter: DeadLetter
    zone: str | None


@dataclass(frozen=True, slots=True)
class ZonedConflict:
    """A conflict, with its meter's device and the time zone of its customer (None: not
    known)."""

    conflict: Conflict
    device: str | None
    zone: str | None


@dataclass(frozen=True, slots=True)
class RatedEvent:
    """A security event with the severity of its kind (a kind not known: warning)."""

    event: SecurityEvent
    severity: Severity


def device_zones(store: Store) -> dict[str, str]:
    """The time zone of each device's customer, by device."""
    zones = {c.id: c.timezone for c in store.registry.list_customers()}
    return {d.id: zones[d.customer] for d in store.registry.list_devices() if d.customer in zones}


def dead_letters(
    store: Store, limit: int, since: int | None = None, *, newest: bool = False
) -> list[ZonedLetter]:
    """At most ``limit`` dead letters (received at or after ``since``), as the store
    lists them (with ``newest``, the last received, newest first), each with its
    customer's zone."""
    zones = device_zones(store)
    found = store.dead_letters.list_dead_letters(limit, since=since, newest=newest)
    return [ZonedLetter(d, zones.get(d.device or "")) for d in found]


def conflicts(store: Store, limit: int) -> list[ZonedConflict]:
    """At most ``limit`` conflicting readings, oldest first, each with its meter's device
    and its customer's zone."""
    zones = device_zones(store)
    devices = {m.id: m.device for m in store.registry.list_meters()}
    found = []
    for c in store.readings.list_conflicts(limit):
        device = devices.get(c.meter)
        found.append(ZonedConflict(c, device, zones.get(device or "")))
    return found


def severity_of(kind: str) -> Severity:
    """The severity of a security event's kind; a kind not known is a warning."""
    known = _KINDS.get(kind)
    return Severity.WARNING if known is None else known.severity


def security_events(store: Store, since: int, limit: int) -> list[RatedEvent]:
    """The newest ``limit`` security events at or after ``since``, newest first, rated."""
    found = store.alerts.security_events(since, limit, newest=True)
    return [RatedEvent(e, severity_of(e.kind)) for e in found]
