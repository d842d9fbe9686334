"""Publish a simulated fleet's messages live to a device endpoint, the way units do.

A unit wakes every ``wake_s`` seconds of simulated time, at a phase of its own, and takes
the messages due since its last wake (``kenshin.sim.wakes``). At a wake it connects
with TLS and its own certificate, publishes them at QoS 1, waits for every PUBACK and
disconnects, as LTE-M units do to save power. A message not acknowledged is sent again
at the unit's next wake, and after the last wake up to ``FINAL_RETRIES`` times; only
what is still unacknowledged then counts as failed. The units and their endpoint are a
port (``kenshin.ports.Units``), given by the caller.

With ``speed`` S, simulated time runs S times faster than real time; 0 is as fast as the
endpoint takes the messages. A window of simulated time (``Replay.since``, ``until``)
publishes only the wakes in it. ``connections`` units are served at once, each by a worker
thread that keeps the units given to it, so that a unit's wakes stay in order.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Generic, TypeVar

from kenshin.domain.spread import report_offset_s
from kenshin.errors import KenshinError, UnitError, WakeFailed
from kenshin.ports import Units
from kenshin.sim.transmission import Message
from kenshin.sim.wakes import Wake, plan_wakes

log = logging.getLogger(__name__)

_Tls = TypeVar("_Tls")  # the units' TLS state, opaque here
FINAL_RETRIES = 3
GIVE_UP_S = 20.0  # no wake acknowledged for this long, and many failed: the endpoint is gone
QUEUED_WAKES = 8  # per worker: bounds the wakes waiting in memory
PROGRESS_EVERY_S = 0.2
TLS_KEPT = 1000  # per worker: units whose TLS context and session are kept between wakes
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class PublishError(KenshinError):
    """Publishing cannot go on: the endpoint is unreachable or refuses, or files are missing."""


@dataclass(frozen=True)
class Target:
    """Where to publish: the endpoint, and the folder of ``kenshin devices add --out``
    (kenshin.sim.run opens the units there)."""

    host: str
    port: int
    certs: Path


@dataclass(frozen=True)
class Replay:
    """How the fleet is replayed: ``speed`` times real time (0: as fast as the endpoint
    takes it), units waking every ``wake_minutes`` of simulated time, ``connections`` units
    connected at once. Only the wakes from ``since`` and before ``until`` (simulated UTC
    epoch s; None: no bound) publish: the others' messages never reach the endpoint. With
    ``answer_commands`` the units answer their commands (kenshin.sim.memory). With
    ``spread_s`` each unit wakes at its reporting offset in that window (the one the
    endpoint's CONNACK gives, kenshin.domain.spread) past the half hours."""

    speed: float = 0.0
    wake_minutes: int = 30
    connections: int = 16
    since: int | None = None
    until: int | None = None
    answer_commands: bool = False
    spread_s: int | None = None

    def publishes(self, at: int) -> bool:
        """Whether the wake at ``at`` publishes."""
        return (self.since is None or self.since <= at) and (self.until is None or at < self.until)


@dataclass
class PublishSummary:
    """What publishing did: messages planned, PUBLISHes sent (retries and answers too),
    messages acknowledged and never acknowledged, connections made, wakes that failed,
    seconds; when the units answered commands, how many and with how many messages; the
    reporting offset each unit's CONNACK gave it, by unit (the last one, if it gave any)."""

    messages: int = 0
    published: int = 0
    acknowledged: int = 0
    failed: int = 0
    connections: int = 0
    failed_wakes: int = 0
    elapsed_s: float = 0.0
    commands_answered: int | None = None
    messages_resent: int = 0
    offsets: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """How far publishing is: the simulated time reached, and counts so far."""

    simulated: int
    acknowledged: int
    failed_wakes: int


def publish_fleet(
    messages: Iterable[Message],
    units: Units[_Tls],
    replay: Replay = Replay(),
    *,
    devices: Iterable[str] = (),
    progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> PublishSummary:
    """Publish ``messages`` (in order of arrival) from ``units`` as ``replay`` says;
    PublishError when the endpoint cannot be used (see the module doc).

    ``devices`` are checked for their files first, and the first unit connects alone.
    Setting ``stop`` ends publishing soon, with PublishError.
    """
    try:
        for device in devices:
            units.check(device)
        spread = replay.spread_s
        offsets = None if spread is None else lambda device: report_offset_s(device, spread)
        planned = plan_wakes(messages, replay.wake_minutes * 60, offsets)
        wakes = (w for w in planned if replay.publishes(w.at))
        first = next(wakes, None)
        summary = PublishSummary()
        if first is None:
            return summary
        started = time.monotonic()
        units.open(first.device, None).probe()
    except UnitError as exc:  # a unit that cannot publish at all: publishing cannot go on
        raise PublishError(str(exc)) from exc
    summary.connections += 1
    fleet = _Fleet(units, max(1, replay.connections), summary, stop or threading.Event())
    fleet.run(chain([first], wakes), replay.speed, progress or (lambda _: None))
    summary.elapsed_s = time.monotonic() - started
    return summary


class _Fleet(Generic[_Tls]):
    """The workers, what they share, and the handing of wakes to them."""

    def __init__(
        self, units: Units[_Tls], workers: int, summary: PublishSummary, stop: threading.Event
    ) -> None:
        self._units = units
        self._summary = summary
        self._lock = threading.Lock()
        self._failure: PublishError | None = None
        self._stopped = stop
        self._failing = 0  # wakes failed in a row, all units together
        self._give_up = max(8, 2 * workers)
        self._last_success = time.monotonic()  # a server restarting is waited for, a while
        self._queues: list[queue.Queue[Wake | None]] = [
            queue.Queue(QUEUED_WAKES) for _ in range(workers)
        ]
        self._worker_of: dict[str, int] = {}
        self._reached = 0  # the simulated time of the last wake handed out

    def run(
        self, wakes: Iterator[Wake], speed: float, progress: Callable[[Progress], None]
    ) -> None:
        """Hand every wake to its unit's worker at its time; wait for all; raise a failure."""
        threads = [threading.Thread(target=self._work, args=(q,)) for q in self._queues]
        for thread in threads:
            thread.start()
        try:
            self._dispatch(wakes, speed, progress)
        except BaseException:  # Ctrl-C, or a message that cannot be planned: stop soon
            self._stopped.set()
            raise
        finally:
            for q in self._queues:
                q.put(None)
            for thread in threads:
                thread.join()
        progress(self._progress())
        if self._failure is not None:
            raise self._failure
        if self._stopped.is_set():
            raise PublishError("publishing was stopped before every message was acknowledged")

    def _dispatch(
        self, wakes: Iterator[Wake], speed: float, progress: Callable[[Progress], None]
    ) -> None:
        real_start, start, shown = time.monotonic(), None, 0.0
        for wake in wakes:
            start = wake.at if start is None else start
            wait = (wake.at - start) / speed - (time.monotonic() - real_start) if speed else 0
            if self._stopped.wait(max(0.0, wait)):
                return
            self._reached = wake.at
            with self._lock:
                self._summary.messages += len(wake.messages)
            worker = self._worker_of.setdefault(
                wake.device, len(self._worker_of) % len(self._queues)
            )
            self._queues[worker].put(wake)
            if time.monotonic() - shown >= PROGRESS_EVERY_S:
                shown = time.monotonic()
                progress(self._progress())

    def _progress(self) -> Progress:
        with self._lock:
            return Progress(self._reached, self._summary.acknowledged, self._summary.failed_wakes)

    def _work(self, wakes: queue.Queue[Wake | None]) -> None:
        carried: dict[str, list[Message]] = {}  # unacknowledged, for the unit's next wake
        tls: dict[str, _Tls] = {}  # the worker's units' TLS, the latest used last
        try:
            while (wake := wakes.get()) is not None:
                if not self._stopped.is_set():
                    due = carried.pop(wake.device, []) + list(wake.messages)
                    self._visit(wake.device, due, carried, tls)
            for attempt in range(FINAL_RETRIES):
                if attempt and carried:
                    self._stopped.wait(1.0)  # a unit that failed tries again a little later
                for device in list(carried):
                    if not self._stopped.is_set():
                        self._visit(device, carried.pop(device), carried, tls)
        except Exception as exc:  # a worker's failure must reach the caller, not vanish
            log.exception("a publishing worker failed")
            self._fail(PublishError(f"publishing failed: {exc}"))
        with self._lock:
            self._summary.failed += sum(len(left) for left in carried.values())

    def _visit(
        self,
        device: str,
        due: list[Message],
        carried: dict[str, list[Message]],
        tls: dict[str, _Tls],
    ) -> None:
        """One wake of a unit; what is not acknowledged is carried to its next wake."""
        unit = self._units.open(device, tls.pop(device, None))
        try:
            left = unit.publish([_encode(m) for m in due])
        except UnitError as failure:  # files missing or unusable, server not trusted
            self._fail(PublishError(str(failure)))
            left = list(range(len(due)))
        except WakeFailed as failure:
            left = list(range(len(due)))
            self._failed_wake(device, str(failure))
        else:
            if left:
                self._failed_wake(device, f"{len(left)} messages not acknowledged: {unit.stalled}")
        if left:
            carried[device] = [due[i] for i in left]
        if unit.tls is not None:
            tls[device] = unit.tls
            if len(tls) > TLS_KEPT:
                del tls[next(iter(tls))]
        with self._lock:
            self._summary.published += unit.published
            self._summary.connections += unit.connected
            self._summary.acknowledged += len(due) - len(left)
            if unit.offset_s is not None:
                self._summary.offsets[device] = unit.offset_s
            if not left:
                self._failing = 0
                self._last_success = time.monotonic()

    def _failed_wake(self, device: str, why: str) -> None:
        log.warning("unit %s: %s; its messages go again at its next wake", device, why)
        with self._lock:
            self._summary.failed_wakes += 1
            self._failing += 1
            failing = self._failing
            quiet = time.monotonic() - self._last_success
        if failing >= self._give_up and quiet >= GIVE_UP_S:
            self._fail(PublishError(f"{failing} wakes in a row failed; the last: {why}"))

    def _fail(self, error: PublishError) -> None:
        with self._lock:
            self._failure = self._failure or error
        self._stopped.set()
