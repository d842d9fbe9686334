"""Security events: every refusal that may be an attack, logged with its details and counted.

The endpoint and the file servers report here (a refused certificate, a topic
outside a unit's own, a failed login: a ``SecurityEventKind``); the alerting issue turns
them into alerts.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from kenshin.domain.model import SecurityEvent
from kenshin.domain.security_kinds import SecurityEventKind

log = logging.getLogger(__name__)


class SecurityLog:
    """Records security events: a WARNING log line each, a count by kind, and each event
    with its time to ``sink`` if one is given (the alerts keep them). The sink is called
    on the endpoint's event loop: it must return at once and not raise
    (``services.alerting.SecurityEventBuffer`` holds events for the store)."""

    def __init__(
        self,
        sink: Callable[[SecurityEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counts: Counter[str] = Counter()
        self._sink = sink
        self._clock = clock

    def record(self, kind: SecurityEventKind, who: str | None, address: str, detail: str) -> None:
        """One event of ``kind`` by ``who`` (a device or account, if known) from ``address``."""
        log.warning(
            "security event %s: %s from %s: %s",
            kind,
            who or "unknown",
            address,
            detail,
            extra={"fields": {"event": kind, "who": who, "address": address, "detail": detail}},
        )
        self.forwarded(SecurityEvent(kind, int(self._clock()), address, who, detail))

    def forwarded(self, event: SecurityEvent) -> None:
        """An event counted and handed to the sink without a log line: an endpoint
        process recorded and logged it (``record`` logs, then comes here)."""
        self.counts[event.kind] += 1
        if self._sink is not None:
            self._sink(event)
