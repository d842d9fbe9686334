"""What the API's routes work with: the App (settings, store, outbox) and the running
server's live parts, handed over once when the API is made."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from kenshin.bootstrap import App
from kenshin.services.device_bundles import BundleShelf
from kenshin.services.security import SecurityLog


@dataclass
class ApiContext:
    """The App, the security log (refusals become security events), the clock (UTC
    epoch s), whether cookies are marked Secure (served over TLS) and, where the server
    has a device endpoint, the units connected now; the devices' credentials waiting to be
    downloaded once (in this process's memory only)."""

    app: App
    security: SecurityLog | None = None
    clock: Callable[[], float] = time.time
    secure_cookies: bool = True
    connected_units: Callable[[], frozenset[str]] | None = None
    extra: dict[str, object] = field(default_factory=dict)
    bundles: BundleShelf = field(default_factory=BundleShelf)


def context_of(request: Request) -> ApiContext:
    """The ApiContext of the app serving ``request`` (a FastAPI dependency)."""
    found: ApiContext = request.app.state.context
    return found
