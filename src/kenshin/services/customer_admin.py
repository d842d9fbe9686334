"""Adding a customer and changing its file settings, at the command line or through the
admin API; each change in the audit log."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from kenshin.domain.csvfiles import file_slots
from kenshin.domain.model import CUSTOMER_ID, Customer
from kenshin.domain.operators import Actor
from kenshin.domain.revisions import cut_of_day, settings_of_day
from kenshin.domain.slots import iso_utc, local_day, zone
from kenshin.errors import KenshinError, NotFoundError
from kenshin.ports import Registry, Revisions
from kenshin.ports.operators import AuditLog
from kenshin.services import audit


class CustomerExists(KenshinError):
    """The customer's id is taken."""


def add_customer(
    registry: Registry, log: AuditLog, actor: Actor, customer: Customer, *, now: int
) -> None:
    """Add ``customer`` (ValueError for an id or zone that cannot be one, CustomerExists
    for an id taken) and record it in the audit log."""
    if CUSTOMER_ID.fullmatch(customer.id) is None:
        raise ValueError(f"{customer.id!r} is not a customer id: letters, digits, . _ -")
    zone(customer.timezone)  # ValueError for an unknown zone
    if registry.get_customer(customer.id) is not None:
        raise CustomerExists(f"customer {customer.id!r} exists already")
    registry.add_customer(customer)
    audit.record(
        log,
        actor,
        action="customers.add",
        kind="customer",
        key=customer.id,
        after=customer_record(customer),
        clock=lambda: now,
    )


def change_customer(
    registry: Registry,
    log: AuditLog,
    actor: Actor,
    customer_id: str,
    settings: dict[str, Any],
    *,
    now: int,
) -> tuple[Customer, dict[str, Any]]:
    """Give customer ``customer_id`` the ``settings`` (Customer fields) that differ from
    its own (NotFoundError for an unknown customer, ValueError for an unknown zone): the
    customer as it was, and the settings changed. One audit entry if any changed: the
    settings changed, before and after."""
    customer = registry.get_customer(customer_id)
    if customer is None:
        raise NotFoundError(f"no customer {customer_id!r}")
    if "timezone" in settings:
        zone(str(settings["timezone"]))  # ValueError for an unknown zone
    changed = {k: v for k, v in settings.items() if getattr(customer, k) != v}
    if not changed:
        return customer, changed
    updated = replace(customer, **changed)
    registry.update_customer(updated)
    was, now_is = customer_record(customer), customer_record(updated)
    audit.record(
        log,
        actor,
        action="customers.set",
        kind="customer",
        key=customer_id,
        before={k: was[k] for k in changed},
        after={k: now_is[k] for k in changed},
        clock=lambda: now,
    )
    return customer, changed


def customer_record(customer: Customer) -> dict[str, object]:
    """The customer as the audit log and the API show it."""
    return {k: str(v) if not isinstance(v, int) else v for k, v in asdict(customer).items()}


def zone_change_note(
    revisions: Revisions, customer: Customer, timezone: str, *, now: int
) -> str | None:
    """What a change of ``customer``'s zone to ``timezone`` does at the seam between the
    last day with a file (kept in its zone) and the first new one, if the seam is not
    one instant: the hours in no day file, or in two. None if it is, or no day has a
    file yet."""
    today = local_day(now, zone(customer.timezone))
    days = (today + timedelta(days=back) for back in range(1, -8, -1))
    found = ((day, revisions.latest_revision(customer.id, day.isoformat())) for day in days)
    written, latest = next(((d, r) for d, r in found if r is not None), (None, None))
    if written is None:
        return None
    made = settings_of_day(customer, latest)  # as its file was made: zone, layout
    kept, after = made.timezone, written + timedelta(days=1)
    end = file_slots(made, written, cut_of_day(made, latest)).end
    start = file_slots(replace(customer, timezone=timezone), after).start
    if end == start:
        return None
    hours = abs(start - end) / 3600
    where = "in no day file" if start > end else "in two day files"
    return (
        f"{written} keeps its file in {kept}, which ends {iso_utc(end)};"
        f" {after} is the first in {timezone}, beginning"
        f" {iso_utc(start)}: the {hours:g} hours between are {where}"
    )
