"""Alert rounds the store cannot save: a full disk, a read-only database.

The notifications of such a round cannot be queued, so they go straight through
their channels, one message per channel, and the state the round would have saved
is kept in memory: the next rounds plan against it, so that an alert sent this way
is not sent again each round, and the first round the store takes saves it. A
notification whose channel fails meanwhile waits in memory for the next round.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

from kenshin.domain.alerts import AlertState, Notification, Plan
from kenshin.errors import StoreError
from kenshin.ports import AlertChannel, Alerts

log = logging.getLogger(__name__)


class DirectDelivery:
    """Saves alert rounds in the store, or delivers them directly when it cannot."""

    def __init__(self, channels: Mapping[str, AlertChannel]) -> None:
        self._channels = channels
        self._states: dict[str, AlertState] | None = None  # while the store lags behind
        self._unsent: list[tuple[str, Notification]] = []

    def states(self, stored: dict[str, AlertState]) -> dict[str, AlertState]:
        """The alert states to plan against: the stored ones, unless a round could not
        be saved since; then that round's."""
        return stored if self._states is None else self._states

    def save(
        self,
        alerts: Alerts,
        stored: Mapping[str, AlertState],
        plan: Plan,
        outgoing: Sequence[tuple[str, Notification]],
    ) -> None:
        """Save the round (``stored`` being the states in the store) with the
        notifications queued; if the store fails, send them directly instead."""
        kept = {s.alert.key for s in plan.states}
        resolved = sorted(set(stored) - kept)  # with those resolved while it could not save
        try:
            alerts.save_round(plan.states, resolved, [*self._unsent, *outgoing])
        except StoreError as exc:
            log.error("alert state cannot be saved (%s): notifications sent directly", exc)  # noqa: TRY400 - the message says it all
            self._states = {s.alert.key: s for s in plan.states}
            self._send([*self._unsent, *outgoing])
            return
        self._states, self._unsent = None, []

    def _send(self, outgoing: Sequence[tuple[str, Notification]]) -> None:
        by_channel: dict[str, list[Notification]] = defaultdict(list)
        for channel, note in outgoing:
            by_channel[channel].append(note)
        self._unsent = []
        for name, notes in by_channel.items():
            if name not in self._channels:
                continue
            try:
                self._channels[name].send(notes)
            except Exception as exc:  # any failure: the next round tries again
                log.warning("alert channel %s failed (%s): next round tries again", name, exc)
                self._unsent += [(name, note) for note in notes]
