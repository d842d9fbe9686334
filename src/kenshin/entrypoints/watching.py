"""The watching side of ``kenshin serve``: alert rules evaluated every
``alerts.evaluate_seconds`` over what the server sees of itself, and the daily
data-quality report sent at ``report.time``.

The server's own state (commits, export runs, its tasks) is observed here; what
the store holds (devices and when they were last heard, receipts, security events)
is added by ``services.alerting``. Both jobs run in worker threads of the schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from kenshin.bootstrap import App
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import CertificateExpiry, ComponentDown, Observations
from kenshin.errors import StoreError
from kenshin.services.alerting import Alerting, disk_space
from kenshin.services.batching import CommitQueue
from kenshin.services.report import ReportSettings, send_due_report
from kenshin.services.schedule import ExportRun, every
from kenshin.watch_setup import (
    alert_channels,
    day_events,
    keep_report_day,
    last_report_day,
    report_channel,
    report_settings,
    unit_infos,
)

log = logging.getLogger(__name__)

REPORT_CHECK_S = 60  # how often the daily report checks whether it is due
REPORT_RETRY_S = 600  # after a failed send (the mail server down), the next try


@dataclass
class _Progress:
    """When ingest last committed, and since when messages have waited without one."""

    batches: int = -1
    last_commit_at: int | None = None
    waiting_since: int | None = None


@dataclass
class ServerWatch:
    """What the alert rules see of the running server; ``tick`` is one evaluation."""

    app: App
    alerting: Alerting
    commits: CommitQueue
    tasks: Mapping[str, asyncio.Task[None]]  # components that must keep running
    others: Callable[[], Sequence[tuple[str, str]]] = tuple  # other parts down, and why
    _progress: _Progress = field(default_factory=_Progress)
    _run_failed: str | None = None  # why the last export run failed as a whole
    _down_since: dict[str, int] = field(default_factory=dict)

    def export_failed(self, error: BaseException) -> None:
        """Note an export run that failed as a whole (until one completes)."""
        self._run_failed = f"the last export run failed: {error}"

    def exported(self, run: ExportRun, now: int) -> None:
        """Note an export run that completed. Its customers' failures are in the store
        (``note_export``), where an export by hand of the failed day clears them too."""
        self._run_failed = None

    def tick(self, now: int) -> None:
        """Evaluate the alert rules at ``now`` and send what is due."""
        self.alerting.tick(self.observe(now), self.app.store.unit_clocks.last_seen())

    def observe(self, now: int) -> Observations:
        """The server's side of the snapshot the rules judge."""
        progress, stats = self._progress, self.commits.stats
        if stats.batches != progress.batches:
            progress.batches, progress.last_commit_at = stats.batches, now
        waiting = self.commits.waiting
        if not waiting or progress.last_commit_at == now:
            progress.waiting_since = None
        elif progress.waiting_since is None:
            progress.waiting_since = now
        folders = {str(self.app.data_dir)}
        if self.app.settings.export.s3_outbox is None:  # an S3 outbox takes no disk here
            folders.add(str(self.app.outbox_dir))
        return Observations(
            now,
            zone=self.app.settings.report.timezone,
            last_commit_at=progress.last_commit_at,
            waiting_messages=waiting,
            waiting_since=progress.waiting_since,
            export_failures=tuple(self.app.store.alerts.export_failures()),
            disks=disk_space(sorted(folders)),
            down=self._down(now),
            certificates=server_certificates(self.app),
        )

    def _down(self, now: int) -> tuple[ComponentDown, ...]:
        stopped = {
            name: (f"{error}" if (error := _error(task)) else "it stopped")
            for name, task in self.tasks.items()
            if task.done()
        }
        stopped.update(self.others())
        if self._run_failed is not None:
            stopped["export"] = self._run_failed
        for name in set(self._down_since) - set(stopped):
            del self._down_since[name]  # running again
        return tuple(
            ComponentDown(name, self._down_since.setdefault(name, now), detail)
            for name, detail in stopped.items()
        )


def server_certificates(app: App) -> tuple[CertificateExpiry, ...]:
    """When the certificates the server presents end: the MQTT endpoint's, the FTPS
    server's (when it has one of its own) and the units' certificate authority's."""
    return tuple(CertificateExpiry(name, end) for name, end in app.certificate_ends().items())


def _error(task: asyncio.Task[None]) -> BaseException | None:
    return None if task.cancelled() else task.exception()


@dataclass
class DailyReport:
    """Sends the daily report when it is due; remembers the last day sent in the data
    folder, so that a restart neither skips nor repeats one."""

    app: App
    settings: ReportSettings
    send: Callable[[EmailMessage], None]
    statuses: Callable[[], Mapping[str, tuple[int, bytes]]] = dict
    # Where the last day sent is kept: the data folder, or the store of a cluster.
    days: ReportDays | None = None
    _sent: date | None = None  # also kept here: a data folder that cannot be written
    _retry_at: int = 0  # after a failed send, not before this

    def tick(self, now: int) -> None:
        """Send the report if one is due at ``now``; after a failure, try again in
        ``REPORT_RETRY_S``."""
        days = self.days or FolderReportDays(self.app.data_dir)
        kept = days.last()
        last = max((d for d in (kept, self._sent) if d is not None), default=None)
        day = self.settings.due(now, last)
        if day is None or now < self._retry_at:
            return
        self._retry_at = now + REPORT_RETRY_S
        store = self.app.store
        sent = send_due_report(
            store,
            self.send,
            now=now,
            last_sent=last,
            settings=self.settings,
            export=self.app.export_settings,
            units=unit_infos(store, self.statuses()),
            events=day_events(store, day, self.settings.timezone),
        )
        self._retry_at = 0
        if sent is not None:
            self._sent = sent
            try:
                days.keep(sent)
            except (OSError, StoreError):
                log.exception("cannot record that the report of %s went out", sent)


class ReportDays(Protocol):
    """Where the day of the last report sent is kept."""

    def last(self) -> date | None:
        """The day of the last report sent, if any."""

    def keep(self, day: date) -> None:
        """Remember that the report of ``day`` went out."""


@dataclass
class FolderReportDays:
    """The day of the last report sent, kept in the data folder."""

    data_dir: Path

    def last(self) -> date | None:
        """The day of the last report sent, if any."""
        return last_report_day(self.data_dir)

    def keep(self, day: date) -> None:
        """Remember that the report of ``day`` went out."""
        keep_report_day(self.data_dir, day)


class Watching:
    """Alerting and the daily report of the server, built from the settings: ``start``
    them once the server runs, ``stopped`` after the schedule's stop is set."""

    def __init__(self, app: App) -> None:
        settings = app.settings
        self.app = app
        channels = alert_channels(settings, app.data_dir)
        self.report_settings = report_settings(settings, channels)
        self.report_channel = report_channel(settings, channels)
        self.alerting = (
            Alerting(
                app.store,
                channels.values(),
                settings.alerts,
                collect_by_hours=settings.deliveries.collect_by_hours,
            )
            if settings.alerts.enabled
            else None
        )
        self.watch: ServerWatch | None = None
        self.report_days: ReportDays | None = None  # the data folder's, unless set
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def security_sink(self) -> Callable[[SecurityEvent], None] | None:
        """Where the SecurityLog hands each event, for the alerts and the report."""
        return None if self.alerting is None else self.alerting.security

    def exported(self, run: ExportRun, now: int) -> None:
        """Note an export run (its failures raise alerts)."""
        if self.watch is not None:
            self.watch.exported(run, now)

    def export_failed(self, error: BaseException) -> None:
        """Note an export run that failed as a whole (``down:export`` until one completes)."""
        if self.watch is not None:
            self.watch.export_failed(error)

    def start(
        self,
        commits: CommitQueue,
        components: Mapping[str, asyncio.Task[None]],
        statuses: Callable[[], Mapping[str, tuple[int, bytes]]],
        stop: asyncio.Event,
        others: Callable[[], Sequence[tuple[str, str]]] = tuple,
    ) -> None:
        """Evaluate the alerts every ``alerts.evaluate_seconds`` and check every minute
        whether the report is due, until ``stop`` is set."""
        settings = self.app.settings
        if self.alerting is not None:
            self.watch = ServerWatch(self.app, self.alerting, commits, components, others)
            every_s = settings.alerts.evaluate_seconds
            self._tasks.append(asyncio.create_task(every(every_s, self.watch.tick, stop)))
        if not settings.report.enabled:
            return
        if self.report_channel is None:
            log.warning(
                "the daily report is not sent: set report.channel to an email channel of"
                " alerts.channels (docs/report.md)"
            )
            return
        daily = DailyReport(
            self.app, self.report_settings, self.report_channel.deliver, statuses, self.report_days
        )
        self._tasks.append(asyncio.create_task(every(REPORT_CHECK_S, daily.tick, stop)))

    async def stopped(self) -> None:
        """Wait for the jobs to end (their stop event is set)."""
        for task in self._tasks:
            await task
