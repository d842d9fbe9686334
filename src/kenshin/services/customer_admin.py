"""Adding a customer, at the command line or through the admin API; in the audit log."""

from __future__ import annotations

from dataclasses import asdict

from kenshin.domain.model import CUSTOMER_ID, Customer
from kenshin.domain.operators import Actor
from kenshin.domain.slots import zone
from kenshin.errors import KenshinError
from kenshin.ports import Registry
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


def customer_record(customer: Customer) -> dict[str, object]:
    """The customer as the audit log and the API show it."""
    return {k: str(v) if not isinstance(v, int) else v for k, v in asdict(customer).items()}
