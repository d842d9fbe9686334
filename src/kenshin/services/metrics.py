"""The server's metrics, in Prometheus' text format.

Most of what is shown the server counts already, and is read when scraped: the
commit queue's stats, the units connected, the security events by kind, the
dead letters kept in the store, the disk space left, the downloads recorded in
the receipts. What happens once and is counted nowhere else is counted here, as
it happens: what each committed batch stored, how long each commit took, what
each export run wrote. Each server has a registry of its own, so that several
servers (tests) can run in one process.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as CounterMetric
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from kenshin.ports import Alerts, DeadLetters, Deliveries
from kenshin.services.batching import CommitStats
from kenshin.services.ingest import IngestSummary
from kenshin.services.schedule import ExportRun

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what every Prometheus reads
COMMIT_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MetricsPorts(Protocol):
    """What the metrics read: receipts, dead letters, the notification queues. A ``Store``
    is one."""

    @property
    def deliveries(self) -> Deliveries:
        """Customers' accounts and download receipts."""

    @property
    def dead_letters(self) -> DeadLetters:
        """Messages that could not be used, with their reasons."""

    @property
    def alerts(self) -> Alerts:
        """Alert state, the notification queue and security events."""


@dataclass(frozen=True)
class LiveCounts:
    """What the server counts in its event loop, read there when scraped."""

    connected_units: int
    commits: CommitStats
    waiting: int  # payloads queued for a batch
    security_events: Mapping[str, int] = field(default_factory=dict)


class DownloadTally:
    """Downloads recorded since ``since`` (UTC epoch s), by protocol, read from the
    receipts: each update reads only the receipts from the second it last saw on."""

    def __init__(self, deliveries: Deliveries, since: int) -> None:
        self._deliveries = deliveries
        self._second = since  # every receipt before this second is counted
        self._counted_in_second = 0  # receipts of that second counted already
        self._lock = threading.Lock()
        self.files: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()

    def update(self) -> None:
        """Count the receipts recorded since the last update."""
        with self._lock:
            found = self._deliveries.list_receipts(since=self._second)  # by time, then id
            for receipt in found[self._counted_in_second :]:
                self.files[receipt.protocol] += 1
                self.bytes[receipt.protocol] += receipt.bytes
            if found:
                self._second = found[-1].at
                self._counted_in_second = sum(r.at == self._second for r in found)


class ServerMetrics:
    """The metrics of one ``kenshin serve``; ``render`` gives the page of a scrape."""

    def __init__(self, store: MetricsPorts, data_dir: Path, *, started_at: int) -> None:
        self._store = store
        self._data_dir = data_dir
        self.downloads = DownloadTally(store.deliveries, started_at)
        self.registry = CollectorRegistry()
        r, k = self.registry, "kenshin"
        self._readings = {
            what: CounterMetric(f"{k}_readings_{what}", doc, registry=r)
            for what, doc in (
                ("received", "Readings in committed messages"),
                ("stored", "Readings stored as new (or completing a stored one)"),
                ("duplicate", "Readings already stored with the same registers"),
                ("conflicting", "Readings that differ from the stored one, kept aside"),
                ("quarantined", "Readings dated in the future, kept only in their dead letter"),
            )
        }
        self._dead_letters = CounterMetric(
            f"{k}_dead_letters", "Messages kept as dead letters by ingest", registry=r
        )
        self._meters = CounterMetric(
            f"{k}_meters_discovered", "Meters first seen or moved to another unit", registry=r
        )
        self._commit_seconds = Histogram(
            f"{k}_commit_seconds",
            "Time to commit a batch of messages (or to fail)",
            buckets=COMMIT_BUCKETS_S,
            registry=r,
        )
        self._export_runs = CounterMetric(
            f"{k}_export_runs", "Export runs, by result", ["result"], registry=r
        )
        self._export_files = CounterMetric(
            f"{k}_export_files", "Customer day files exported, by outcome", ["outcome"], registry=r
        )
        self._export_failures = CounterMetric(
            f"{k}_export_customer_failures", "Customers whose export failed in a run", registry=r
        )
        self._export_last = Gauge(
            f"{k}_export_last_completed_timestamp_seconds",
            "When the last export run completed (UTC epoch s)",
            registry=r,
        )
        for result in ("completed", "failed"):
            self._export_runs.labels(result)  # both shown from the start, at 0
        for outcome in ("written", "unchanged", "removed"):
            self._export_files.labels(outcome)

    def committed(self, summary: IngestSummary) -> None:
        """Count what a committed batch did (``CommitQueue``'s ``on_commit``)."""
        for what, count in (
            ("received", summary.readings),
            ("stored", summary.stored),
            ("duplicate", summary.duplicates),
            ("conflicting", summary.conflicts),
            ("quarantined", summary.quarantined),
        ):
            self._readings[what].inc(count)
        self._dead_letters.inc(summary.dead_letters)
        self._meters.inc(summary.meters_discovered)

    def commit_took(self, seconds: float) -> None:
        """Time one batch's commit (``CommitQueue``'s ``on_latency``)."""
        self._commit_seconds.observe(seconds)

    def count_export(self, export: Callable[[], ExportRun], now: int) -> ExportRun:
        """Run ``export`` and count what it did, or that it failed as a whole."""
        try:
            run = export()
        except Exception:
            self._export_runs.labels("failed").inc()
            raise
        written = sum(o.changed for o in run.outcomes)
        self._export_runs.labels("completed").inc()
        self._export_files.labels("written").inc(written)
        self._export_files.labels("unchanged").inc(len(run.outcomes) - written)
        self._export_files.labels("removed").inc(len(run.removed))
        self._export_failures.inc(len(run.failures))
        self._export_last.set(now)
        return run

    async def page(self, live: LiveCounts) -> bytes:
        """``render`` in a worker thread (``live`` was read in the event loop)."""
        return await asyncio.to_thread(self.render, live)

    def render(self, live: LiveCounts) -> bytes:
        """The metrics page. Reads the store and the disk: call it in a worker thread."""
        self.downloads.update()
        families = [
            *_live_families(live),
            *_download_families(self.downloads),
            _gauge(
                "kenshin_dead_letters_kept",
                "Dead letters kept in the store",
                self._store.dead_letters.count_dead_letters(),
            ),
            _gauge(
                "kenshin_disk_free_bytes",
                "Free space of the data folder's disk",
                shutil.disk_usage(self._data_dir).free,
            ),
            _by_channel(self._store.alerts.queue_depths()),
        ]
        return generate_latest(_Page(self.registry, families))


class FilesMetrics:
    """The metrics of one ``kenshin files``: the security events it saw (given when
    scraped) and the downloads recorded in the store since it started, by every file
    server on the store (the receipts do not say which served them)."""

    def __init__(self, deliveries: Deliveries, *, started_at: int) -> None:
        self.downloads = DownloadTally(deliveries, started_at)

    async def page(self, security_events: Mapping[str, int]) -> bytes:
        """``render`` in a worker thread."""
        return await asyncio.to_thread(self.render, security_events)

    def render(self, security_events: Mapping[str, int]) -> bytes:
        """The metrics page. Reads the store: call it in a worker thread."""
        self.downloads.update()
        families = [_security_family(security_events), *_download_families(self.downloads)]
        return generate_latest(_Page(CollectorRegistry(), families))


@dataclass(frozen=True)
class _Page:
    """The registry's metrics and those read for this scrape, as one collector."""

    registry: CollectorRegistry
    families: list[Metric]

    def collect(self) -> Iterable[Metric]:
        yield from self.registry.collect()
        yield from self.families


def _security_family(counts: Mapping[str, int]) -> Metric:
    security = CounterMetricFamily(
        "kenshin_security_events",
        "Security events (refusals that may be attacks), by kind",
        labels=["kind"],
    )
    for kind, count in sorted(counts.items()):
        security.add_metric([kind], count)
    return security


def _live_families(live: LiveCounts) -> list[Metric]:
    stats = live.commits
    security = _security_family(live.security_events)
    return [
        _gauge(
            "kenshin_units_connected",
            "Units connected to the device endpoint",
            live.connected_units,
        ),
        _counter("kenshin_messages_received", "Messages units sent for ingest", stats.received),
        _counter("kenshin_messages_committed", "Messages committed", stats.messages),
        _counter("kenshin_commit_batches", "Batches committed", stats.batches),
        _counter(
            "kenshin_commit_failures",
            "Batches that failed to commit, none of their messages acknowledged",
            stats.failed_batches,
        ),
        _gauge("kenshin_commit_queue_messages", "Messages waiting for a batch", live.waiting),
        security,
    ]


def _download_families(tally: DownloadTally) -> list[Metric]:
    files = CounterMetricFamily(
        "kenshin_downloads", "Files customers downloaded, by protocol", labels=["protocol"]
    )
    size = CounterMetricFamily(
        "kenshin_download_bytes", "Bytes customers downloaded, by protocol", labels=["protocol"]
    )
    for protocol in sorted(tally.files):
        files.add_metric([protocol], tally.files[protocol])
        size.add_metric([protocol], tally.bytes[protocol])
    return [files, size]


def _by_channel(depths: Mapping[str, int]) -> GaugeMetricFamily:
    queued = GaugeMetricFamily(
        "kenshin_alert_queue_notifications",
        "Alert notifications waiting for their channel, by channel",
        labels=["channel"],
    )
    for channel, count in sorted(depths.items()):
        queued.add_metric([channel], count)
    return queued


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
