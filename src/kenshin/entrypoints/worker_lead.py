"""The scheduled work of a cluster, run by one worker at a time: the leader.

Every ``cluster.leader_check_s`` each worker tries to take the lead (``Leadership``, a
PostgreSQL advisory lock); the one holding it runs the export schedule (exports,
retention, collection, gap recovery), the alerts and the daily report, and sends the
units' commands through the broker. When it stops or dies, its lock goes with its
connection and another worker takes the lead at its next try: the schedule starts again
there at once. Revision numbers stay continuous: exports of one customer's files take
turns (``Revisions.exporting``), even two leaders' for the moments until a leader whose
connection was cut learns it.

The commands go out every ``COMMAND_POLL_S`` through the broker
(``kenshin.services.command_sending``): retained, each counted acknowledged once the
broker took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from kenshin.bootstrap import App
from kenshin.entrypoints.scheduled import EXPORT_RETRY_S, LastRun, export_job
from kenshin.entrypoints.watching import Watching
from kenshin.ports.broker import UnitMessages
from kenshin.ports.cluster import Leadership, Members
from kenshin.services.batching import CommitQueue
from kenshin.services.command_sending import CommandSender
from kenshin.services.metrics import ServerMetrics
from kenshin.services.schedule import every

log = logging.getLogger(__name__)

COMMAND_POLL_S = 1.0
REPORT_NOTE = "report sent"
REVOCATION_CHECK_S = 2.0  # how soon a revoked unit's connection to the broker is closed
REVOCATION_LOOK_BACK_S = 120  # a revocation may be dated before it is committed


@dataclass
class RevocationKicker:
    """Closes the broker connection of each unit revoked since the leader began: the
    broker checks its CRL only when a unit connects (``kenshin broker-config mosquitto
    --crl-only`` and a reload keep it current), so one connected stays until it goes."""

    app: App
    link: UnitMessages
    clock: Callable[[], float] = time.time
    _since: int | None = None
    _done: set[int] = field(default_factory=set)

    def check(self, _now: int = 0) -> int:
        """Close the connections of the units revoked since the last check: how many."""
        now = int(self.clock())
        since = self._since if self._since is not None else now - REVOCATION_LOOK_BACK_S
        certificates = self.app.store.certificates
        serials = certificates.revoked_serials(since) - self._done
        self._since = now - REVOCATION_LOOK_BACK_S
        devices = set()
        for serial in serials:
            found = certificates.get_certificate(serial)
            if found is not None:
                devices.add(found.device)
            self._done.add(serial)
        for device in sorted(devices):
            if self.link.kick(device):
                log.warning("unit %s is revoked: its connection to the broker is closed", device)
        return len(devices)


@dataclass
class StoredReportDays:
    """The day of the last daily report sent, kept in the store for the next leader."""

    members: Members

    def last(self) -> date | None:
        """The day of the last report sent, if any."""
        kept = self.members.note(REPORT_NOTE)
        return date.fromisoformat(kept) if kept else None

    def keep(self, day: date) -> None:
        """Remember that the report of ``day`` went out."""
        self.members.keep_note(REPORT_NOTE, day.isoformat())


@dataclass
class LeaderDuty:
    """Tries to lead; while leading, runs the scheduled work."""

    app: App
    leadership: Leadership
    watching: Watching
    metrics: ServerMetrics
    commits: CommitQueue
    link: UnitMessages
    statuses: Callable[[], Mapping[str, tuple[int, bytes]]] = dict
    others: Callable[[], Sequence[tuple[str, str]]] = tuple  # cluster parts down, and why
    last_run: LastRun = field(default_factory=LastRun)
    _term: tuple[asyncio.Event, list[asyncio.Task[None]]] | None = None

    @property
    def leading(self) -> bool:
        """Whether this worker runs the scheduled work now."""
        return self._term is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Try to lead every ``cluster.leader_check_s`` until ``stop``; then give the lead up."""
        check_s = self.app.settings.cluster.leader_check_s
        try:
            while not stop.is_set():
                held = await asyncio.to_thread(self.leadership.try_lead)
                if held and self._term is None:
                    self._begin()
                elif not held and self._term is not None:
                    log.error("this worker no longer leads: its scheduled work stops")
                    await self._end()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), check_s)
        finally:
            await self._end()
            await asyncio.to_thread(self.leadership.resign)

    def _begin(self) -> None:
        term_stop = asyncio.Event()
        minutes = self.app.settings.schedule.export_minutes
        job = export_job(self.app, self.metrics, self.watching, self.last_run)
        commands = CommandSender(self.app.store.commands, self.link)
        tasks = [
            asyncio.create_task(every(minutes * 60, job, term_stop, retry_s=EXPORT_RETRY_S)),
            asyncio.create_task(every(COMMAND_POLL_S, commands.send_new, term_stop)),
            asyncio.create_task(
                every(REVOCATION_CHECK_S, RevocationKicker(self.app, self.link).check, term_stop)
            ),
        ]
        components = {"schedule": tasks[0], "commands": tasks[1], "revocations": tasks[2]}
        self.watching.start(self.commits, components, self.statuses, term_stop, self.others)
        self._term = (term_stop, tasks)
        log.warning("this worker leads: it runs the exports, alerts and report")

    async def _end(self) -> None:
        if self._term is None:
            return
        term_stop, tasks = self._term
        term_stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await task
        await self.watching.stopped()
        self._term = None
