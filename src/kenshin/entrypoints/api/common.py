"""What the fleet's routes share: the App of the request, the answers a route may give
besides its own, checked path and query values, and times as ISO 8601."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import Depends, HTTPException

from kenshin.bootstrap import App
from kenshin.domain.model import CUSTOMER_ID, DEVICE_ID, Customer
from kenshin.domain.operators import Actor
from kenshin.domain.slots import zone
from kenshin.entrypoints.api.auth import Principal
from kenshin.entrypoints.api.context import ApiContext, context_of

# Path and query values: a value that cannot be an id is a 422, never a lookup.
CUSTOMER_PATTERN = f"^{CUSTOMER_ID.pattern}$"
DEVICE_PATTERN = f"^{DEVICE_ID.pattern}$"
METER_PATTERN = r"^[\x21-\x2e\x30-\x7e]{1,64}$"  # METER_ID without "/", which a path cannot hold
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)  # the days a route answers for


def actor_of(principal: Principal) -> Actor:
    """Who makes a change through the API, as the audit log names them."""
    return Actor(principal.name, principal.role.value, principal.address)


def app_of(context: ApiContext = Depends(context_of)) -> App:  # noqa: B008 - FastAPI's way
    """The App of the request (a dependency)."""
    return context.app


def now_of(context: ApiContext = Depends(context_of)) -> int:  # noqa: B008 - FastAPI's way
    """Now, UTC epoch s, by the API's clock (a dependency)."""
    return int(context.clock())


def checked_day(day: date, *, days_after: int = 0) -> date:
    """``day``, or 422 when it (or the ``days_after`` that follow it) is out of range."""
    if not FIRST_DAY.toordinal() <= day.toordinal() <= LAST_DAY.toordinal() - days_after:
        raise HTTPException(422, f"{day}: a day from {FIRST_DAY} to {LAST_DAY} is expected")
    return day


def customer_or_404(app: App, customer_id: str) -> Customer:
    """The customer ``customer_id``, or 404."""
    customer = app.store.registry.get_customer(customer_id)
    if customer is None:
        raise HTTPException(404, f"no customer {customer_id!r}")
    return customer


def iso(epoch: int | None, timezone: str | None = None) -> str | None:
    """``epoch`` (UTC epoch s) as ISO 8601 with the offset of ``timezone`` (None: UTC)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, zone(timezone) if timezone else UTC).isoformat()
