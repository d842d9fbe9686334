"""``kenshin worker``: one of any number of stateless processes of a cluster, on any
node. Each reads the units' messages from the MQTT broker through shared subscriptions
(the broker spreads the messages over the workers), stores them in batches in the
shared PostgreSQL store and acknowledges each to the broker only after its commit; one
worker at a time also leads (``worker_lead``): the exports, alerts, report and commands.

Each worker has a name, its client id at the broker: its session, with the messages it
has not acknowledged, waits for it there under that name. Start a worker that stopped
again under the same name.

SIGTERM or SIGINT: take no more messages, commit and acknowledge what was received,
give the lead up, disconnect (the session stays at the broker).

Its HTTP side serves /metrics, /healthz and /readyz and, with ``http.console``, the
console and the admin API on the shared store, as ``kenshin serve`` does (over TLS
beyond this machine: it refuses to start otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from kenshin.bootstrap import App
from kenshin.domain.cluster import MISSED_BEATS, Member, cluster_state
from kenshin.entrypoints.http import (
    Check,
    HealthApp,
    HttpServer,
    HttpSettings,
    store_writable,
    task_running,
)
from kenshin.entrypoints.http_tls import tls_files
from kenshin.entrypoints.listeners import Listener, announce, on_signals
from kenshin.entrypoints.scheduled import commit_queue
from kenshin.entrypoints.watching import Watching
from kenshin.entrypoints.worker_inbox import Inbox
from kenshin.entrypoints.worker_lead import LeaderDuty, StoredReportDays
from kenshin.entrypoints.worker_watch import LeaderlessWatch
from kenshin.ports.broker import UnitMessages
from kenshin.ports.cluster import Members
from kenshin.services.batching import CommitQueue
from kenshin.services.metrics import LiveCounts, ServerMetrics
from kenshin.services.security import SecurityLog
from kenshin.watch_setup import alert_channels

log = logging.getLogger(__name__)

ROLE = "worker"


def default_name() -> str:
    """A worker's name when none is given: ``worker-<host name>``."""
    return f"worker-{socket.gethostname()}"


@dataclass
class _Parts:
    """What a running worker is made of."""

    inbox: Inbox
    commits: CommitQueue
    link: UnitMessages
    duty: LeaderDuty
    members: Members
    security: SecurityLog
    metrics: ServerMetrics
    watching: Watching


async def work(
    app: App,
    name: str,
    *,
    on_listening: Callable[[list[Listener]], None] = lambda _: None,
    stop: asyncio.Event | None = None,
    retire: bool = False,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then shut down without loss.
    With ``retire``: leave the shared subscriptions, store what the worker's session
    holds, end the session and forget the worker. ConfigError when the store is not
    PostgreSQL or no broker is configured; BrokerError when the broker cannot be used."""
    stop = stop or asyncio.Event()
    if app.settings.http.enabled:
        tls_files(app.settings.http, app.data_dir)  # the console in the clear stops it here
    on_signals(stop.set)
    members, leadership = app.cluster()
    watching = Watching(app)  # a wrong alert channel stops start-up here
    watching.report_days = StoredReportDays(members)  # whichever worker leads next knows
    security = SecurityLog(watching.security_sink)
    metrics = ServerMetrics(app.store, app.data_dir, started_at=int(time.time()))
    commits = commit_queue(app, security, metrics)
    inbox = Inbox(commits, app.store.unit_clocks)
    link = app.broker_link(name, inbox.deliver, retiring=retire)
    inbox.attach(asyncio.get_running_loop(), link)
    duty = LeaderDuty(app, leadership, watching, metrics, commits, link)
    parts = _Parts(inbox, commits, link, duty, members, security, metrics, watching)
    duty.others = _cluster_problems(app, members)
    await asyncio.to_thread(link.start)  # what comes meanwhile waits in the commit queue
    committing = asyncio.create_task(commits.run())
    background_stop = asyncio.Event()
    tasks = {
        "ingest": committing,
        "statuses": asyncio.create_task(inbox.keep_statuses(background_stop)),
        "heartbeat": asyncio.create_task(_beat(app, name, parts, background_stop)),
    }
    if retire:  # a retiring worker never leads, and stops once its session is drained
        tasks["drain"] = asyncio.create_task(_drained(inbox, stop))
    else:
        tasks["lead"] = asyncio.create_task(duty.run(background_stop))
    http = await _start_http(app, parts, tasks, on_listening)
    log.warning("worker %s: reading the units' messages from the broker", name)
    try:
        await stop.wait()
    finally:
        await _shut_down(parts, tasks, background_stop, http, end_session=retire)
        if retire:
            await asyncio.to_thread(members.forget, name)
        log.info("worker %s stopped: %d messages stored", name, inbox.counts["stored"])


DRAIN_QUIET_S = 2.0  # a retiring worker's session is drained once nothing came for this long


async def _drained(inbox: Inbox, stop: asyncio.Event) -> None:
    """Set ``stop`` once nothing waits and nothing came for DRAIN_QUIET_S."""
    loop = asyncio.get_running_loop()
    last, since = -1, loop.time()
    while not stop.is_set():
        received = inbox.counts["received"]
        if received != last or inbox.waiting:
            last, since = received, loop.time()
        elif loop.time() - since >= DRAIN_QUIET_S:
            log.warning("the session is drained: %d messages stored", inbox.counts["stored"])
            stop.set()
            return
        await asyncio.sleep(0.1)  # a poll of the inbox's counts, not a wait for time


async def _shut_down(
    parts: _Parts,
    tasks: dict[str, asyncio.Task[None]],
    background_stop: asyncio.Event,
    http: HttpServer | None,
    *,
    end_session: bool = False,
) -> None:
    on_signals(lambda: log.warning("shutting down already"))
    log.info("shutting down: taking no more messages; committing what was received")
    parts.inbox.close()
    await parts.commits.close()
    await tasks["ingest"]  # every batch answered: its messages acknowledged
    background_stop.set()
    for name, task in tasks.items():
        if name != "ingest":
            await task
    await parts.inbox.flush_statuses()
    await parts.inbox.stopped()
    await asyncio.to_thread(lambda: parts.link.stop(end_session=end_session))
    if http is not None:
        await http.stop()


async def _start_http(
    app: App,
    parts: _Parts,
    tasks: dict[str, asyncio.Task[None]],
    on_listening: Callable[[list[Listener]], None],
) -> HttpServer | None:
    """The HTTP side (/metrics, /healthz, /readyz, the console), if enabled; announce
    the listeners."""
    listeners: list[Listener] = []
    http = None
    if app.settings.http.enabled:
        http = _http_side(app, parts, tasks)
        listeners.append(await http.start())
    announce(listeners, on_listening)
    return http


def _http_side(app: App, parts: _Parts, tasks: dict[str, asyncio.Task[None]]) -> HttpServer:
    """Ready when the store is writable, the broker connected and the tasks running; the
    console and the admin API on every other path where ``http.console`` (over TLS
    beyond this machine)."""
    commits = tasks["ingest"]

    def live() -> LiveCounts:  # read in the event loop; the page is made in a thread
        stats = replace(parts.commits.stats)
        return LiveCounts(0, stats, parts.commits.waiting, dict(parts.security.counts))

    async def broker() -> str | None:
        return None if parts.link.connected else "the broker is not connected"

    checks: dict[str, Check] = {
        "store": store_writable(app.store),
        "broker": broker,
        "ingest": task_running(commits, "the commit of received messages"),
    }
    if "lead" in tasks:
        checks["lead"] = task_running(tasks["lead"], "the attempts to lead")
    settings = app.settings.http
    tls = tls_files(settings, app.data_dir)
    api = None
    if settings.console:  # the admin API's framework is loaded only to serve it
        from kenshin.entrypoints.api.app import make_api
        from kenshin.entrypoints.api.context import ApiContext

        api = make_api(ApiContext(app, parts.security, secure_cookies=tls is not None))
    health = HealthApp(lambda: parts.metrics.page(live()), checks, api)
    return HttpServer(HttpSettings(settings.host, settings.port, tls), health)


def _cluster_problems(app: App, members: Members) -> Callable[[], list[tuple[str, str]]]:
    """For the leader's alerts: the cluster's parts that are down, and why (the leader
    asks: a leader there is, whatever the heartbeats say yet). Nothing until the other
    workers have had the time of MISSED_BEATS heartbeats to say they are alive."""
    settings = app.settings.cluster
    started = time.monotonic()

    def problems() -> list[tuple[str, str]]:
        if time.monotonic() - started < MISSED_BEATS * settings.heartbeat_s:
            return []
        found, now = members.list_members()
        state = cluster_state(
            found, now=now, heartbeat_s=settings.heartbeat_s, workers_expected=settings.workers
        )
        return [("workers", problem) for problem in state.problems(leader_known=True)]

    return problems


async def _beat(app: App, name: str, parts: _Parts, stop: asyncio.Event) -> None:
    """Say every ``cluster.heartbeat_s`` that this worker is alive, with its figures;
    store the security events it saw; watch that some worker leads."""
    started, every_s = int(time.time()), app.settings.cluster.heartbeat_s
    host, pid = socket.gethostname(), os.getpid()
    watch = _leaderless_watch(app, name)
    while True:
        member = Member(
            name,
            ROLE,
            host,
            pid,
            started,
            0,
            parts.duty.leading,
            parts.inbox.lag_s,
            _counts(parts),
        )
        try:
            await asyncio.to_thread(_beat_once, app, parts, member, watch)
        except Exception:  # the store may be down: the next beat tries again
            log.exception("cannot record this worker's heartbeat")
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except TimeoutError:
            continue


def _counts(parts: _Parts) -> dict[str, int]:
    """The worker's figures for its heartbeat, with the broker's backlog where it says."""
    counts = {**parts.inbox.counts, "waiting": parts.inbox.waiting}
    if parts.link.held is not None:
        counts["broker_held"] = parts.link.held
    return counts


def _leaderless_watch(app: App, name: str) -> LeaderlessWatch | None:
    """The watch over the lead, where alerts are on."""
    settings = app.settings
    if not settings.alerts.enabled:
        return None
    channels = alert_channels(settings, app.data_dir)
    heartbeat_s, zone = settings.cluster.heartbeat_s, settings.report.timezone
    return LeaderlessWatch(name, channels, settings.alerts, heartbeat_s, zone)


def _beat_once(app: App, parts: _Parts, member: Member, watch: LeaderlessWatch | None) -> None:
    """In a thread: record the heartbeat; where this worker does not lead, store its
    security events (the leader's alerts do it for its own) and watch the lead."""
    parts.members.beat(member)
    if parts.duty.leading:
        return
    alerting = parts.watching.alerting
    if alerting is not None:
        alerting.security.flush(app.store.alerts)
    if watch is not None:
        found, now = parts.members.list_members()
        settings = app.settings.cluster
        state = cluster_state(
            found, now=now, heartbeat_s=settings.heartbeat_s, workers_expected=settings.workers
        )
        watch.check(state, now, leading=parts.duty.leading)
