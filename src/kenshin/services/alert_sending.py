"""Sending the queued alert notifications, channel by channel.

``NotificationSender`` delivers each channel's queue in order, within the channel's
rate limit (what exceeds it goes in one digest or waits). A channel that fails keeps
its queue and is retried with a growing wait, so nothing is lost while it is down;
one failing for long is reported to the rules (``failing``), which raise an alert.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress

from kenshin.config_alerts import AlertsConfig
from kenshin.domain.alerts import Queued, rate_limited
from kenshin.domain.observations import ChannelFailure
from kenshin.errors import StoreError
from kenshin.ports import AlertChannel, Alerts, ChannelError

log = logging.getLogger(__name__)


class NotificationSender:
    """Delivers each channel's queued notifications in order, within its rate limit; a
    channel that fails is retried after 30 s, 60 s... up to the maximum wait."""

    def __init__(
        self,
        alerts: Alerts,
        channels: Iterable[AlertChannel],
        settings: AlertsConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._alerts = alerts
        self._channels = {c.name: c for c in channels}
        self._settings = settings
        self._clock = clock
        self._sent: dict[str, deque[int]] = defaultdict(deque)
        self._failures: dict[str, int] = defaultdict(int)
        self._retry_at: dict[str, int] = {}
        self._failing: dict[str, tuple[int, str]] = {}  # since when, last error
        self._gone: set[int] = set()  # sent, but the store could not remove them yet

    def failing(self, now: int, after_s: int) -> list[ChannelFailure]:
        """The channels that have failed for ``after_s`` or longer, as the rules take them."""
        return [
            ChannelFailure(name, error, since, len(self._alerts.queued(name, limit=100_000)))
            for name, (since, error) in sorted(self._failing.items())
            if now - since >= after_s
        ]

    def deliver(self, now: int | None = None) -> int:
        """Send what each channel may send now; how many notifications went out."""
        now = int(self._clock()) if now is None else now
        stray = {q.channel for q in self._alerts.queued(limit=10_000)} - set(self._channels)
        for name in sorted(stray):
            log.error("notifications queued for channel %r, which is not configured: kept", name)
        return sum(self._deliver_channel(name, now) for name in self._channels)

    def _deliver_channel(self, name: str, now: int) -> int:
        if self._retry_at.get(name, now) > now:
            return 0
        settings = self._settings
        window = settings.rate_limit_minutes * 60
        sent_at = self._sent[name]
        while sent_at and sent_at[0] <= now - window:
            sent_at.popleft()
        self._forget_sent()
        limit = settings.rate_limit_messages + settings.digest_max + len(self._gone)
        pending = [q for q in self._alerts.queued(name, limit=limit) if q.id not in self._gone]
        groups = rate_limited(
            pending, sent_at, now, settings.rate_limit_messages, window, settings.digest_max
        )
        count = 0
        for group in groups:
            if not self._send(name, group, now):
                break
            sent_at.append(now)
            count += len(group)
        return count

    def _forget_sent(self) -> None:
        """Remove the sent notifications from the queue; if the store cannot, remember
        them, so that none is sent twice."""
        if not self._gone:
            return
        try:
            self._alerts.delivered(sorted(self._gone))
        except StoreError as exc:
            log.error("sent notifications cannot be removed from the queue now: %s", exc)  # noqa: TRY400
            return
        self._gone.clear()

    def _send(self, name: str, group: Sequence[Queued], now: int) -> bool:
        ids = [q.id for q in group]
        try:
            self._channels[name].send([q.notification for q in group])
        except Exception as exc:
            if not isinstance(exc, ChannelError):
                log.exception("alert channel %s failed unexpectedly", name)
            self._failures[name] += 1
            failures = self._failures[name]
            wait = min(
                self._settings.retry_first_seconds * 2 ** (failures - 1),
                self._settings.retry_max_seconds,
            )
            self._retry_at[name] = now + wait
            self._failing[name] = (self._failing.get(name, (now, ""))[0], str(exc))
            with suppress(StoreError):  # only a count: a full disk must not stop the round
                self._alerts.delivery_failed(ids, str(exc))
            log.warning(
                "alert channel %s failed (%s): its notifications are kept, next try in %d s",
                name,
                exc,
                wait,
            )
            return False
        self._gone.update(ids)
        self._forget_sent()
        if self._failures.pop(name, 0):
            log.info("alert channel %s works again", name)
        self._retry_at.pop(name, None)
        self._failing.pop(name, None)
        return True
