"""The device endpoint on every core: ``mqtt.processes`` endpoint processes (``front``).

The server makes the listening socket, and each endpoint process accepts on it: the
system hands each new connection to a process that is free to take it. Each process
does the TLS and MQTT of its connections and hands the payloads to this process,
which commits them in its one ``CommitQueue`` (one writer to the store, batches as
large as in one process) and answers each; the endpoint process sends the PUBACK
only then. Status messages and security events come here too, and each unit's
presence: a unit that connects through another process than its last takes over from
its earlier connection, which is closed, and its MQTT session there is forgotten (it
does not follow the unit: the CONNACK says no session is present, and the unit
subscribes again). A command a unit acknowledges through one process is not sent
again by the others. The processes share one session-ticket key (``tickets``): a unit
resumes its TLS session in whichever it reaches.

An endpoint process that stops unexpectedly is started again after RESTART_S; its
units connect again at their next wake, and what they sent and did not see
acknowledged they send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from functools import partial
from typing import Any

from kenshin.bootstrap import App
from kenshin.domain.model import SecurityEvent
from kenshin.entrypoints.mqtt import link as frames
from kenshin.entrypoints.mqtt.link import Frame, Link, frame_bytes
from kenshin.entrypoints.mqtt.listener import listening_socket
from kenshin.entrypoints.mqtt.statuses import StatusKeeper
from kenshin.entrypoints.mqtt.tickets import new_ticket_keys
from kenshin.errors import KenshinError
from kenshin.services.batching import CertificateRevoked, CommitError, CommitQueue
from kenshin.services.ingest import Incoming
from kenshin.services.security import SecurityLog
from kenshin.worker_processes import cores

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # for every endpoint process to listen
STOP_TIMEOUT_S = 60.0  # for an endpoint process to answer what it received and exit
RESTART_S = 1.0  # before starting again an endpoint process that stopped
RESTART_MAX_S = 60.0  # ... doubled after each start that failed, up to this


class EndpointProcessError(KenshinError):
    """An endpoint process could not start."""


class _Process:
    """One endpoint process and the server's end of its link."""

    def __init__(self, owner: EndpointProcesses, index: int) -> None:
        self.owner = owner
        self.index = index
        self.link = Link(self._on_frame, self._on_lost)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.process: asyncio.subprocess.Process | None = None
        self.paused = False
        self.started = False  # it listened (it is started again if it stops)
        self._committed: list[int] = []

    def _on_frame(self, frame: Frame) -> None:
        kind, owner = frame[0], self.owner
        if kind == frames.COMMITS:
            self._offer(frame[1], frame[2])
        elif kind == frames.STATUS:
            owner.status_keeper.offer(frame[1], int.from_bytes(frame[2], "big"), frame[3], frame[4])
        elif kind == frames.SECURITY:
            _, event_kind, who, address, detail, at = frame
            owner.security.forwarded(SecurityEvent(event_kind, at, address, who, detail))
        elif kind == frames.CONNECTED:
            owner.connected_through(frame[1], self, frame[2])
        elif kind == frames.DISCONNECTED:
            owner.disconnected_from(frame[1], self)
        elif kind == frames.COMMAND_DONE:
            owner.command_done(frame[1], frame[2], self)
        elif kind == frames.READY and not self.ready.done():
            self.started = True
            self.ready.set_result(None)

    def _offer(self, seq: int, batch: list[list[Any]]) -> None:
        """Payloads ``seq``, ``seq`` + 1... to be committed."""
        commits = self.owner.commits
        for source, payload, received_at, kind, device, serial in batch:
            item = Incoming(source, payload, received_at, kind, device, True, _serial(serial))
            try:
                commits.offer(item, partial(self._answer, seq))
            except CommitError as exc:
                self._answer(seq, exc)
            seq += 1
        if commits.full():
            self.owner.wait_for_room(self)

    def _answer(self, seq: int, error: CommitError | None) -> None:
        if error is not None:
            revoked = isinstance(error, CertificateRevoked)
            self.link.send([frames.ANSWER, seq, str(error), revoked])
            return
        self._committed.append(seq)  # answered together, once this loop turn is done
        if len(self._committed) == 1:
            asyncio.get_running_loop().call_soon(self._send_committed)

    def _send_committed(self) -> None:
        committed, self._committed = self._committed, []
        self.link.send([frames.COMMITTED, committed])

    def _on_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(
                EndpointProcessError(
                    f"endpoint process {self.index} stopped before listening (its error is "
                    "logged above)"
                )
            )
        self.owner.lost(self)


class EndpointProcesses:
    """The device endpoint of ``app``'s settings in ``count`` processes; what the server
    shows of it (``port``, ``connected``, ``statuses``) as a ``DeviceEndpoint`` does."""

    def __init__(self, app: App, commits: CommitQueue, security: SecurityLog, count: int) -> None:
        self._app = app
        self.commits = commits
        self.security = security
        self._count = count
        self.status_keeper = StatusKeeper(app.store)
        self.statuses = self.status_keeper.latest  # the latest status of each unit
        self._where: dict[str, _Process] = {}  # connected units, by the process they are in
        # Each unit's last process (its session is there) and when it connected there.
        self._last: dict[str, tuple[_Process, int]] = {}
        self._processes: list[_Process] = []
        self._sock: socket.socket | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        # Payloads unanswered in one endpoint process before its connections stop reading.
        self._commit_limit = max(1, 4 * app.settings.ingest.batch_messages // count)
        self._ticket_keys = new_ticket_keys()  # a unit resumes its session in any process

    @property
    def port(self) -> int:
        """The port listened on (the one the system gave when 0 was asked)."""
        assert self._sock is not None, "start() first"
        return int(self._sock.getsockname()[1])

    @property
    def connected(self) -> list[str]:
        """Device ids of the units connected now, through any endpoint process."""
        return sorted(self._where)

    async def start(self) -> None:
        """Listen, start the endpoint processes, and return once each accepts."""
        self._app.endpoint_tls()  # unusable TLS files are said here, once
        mqtt = self._app.settings.mqtt
        self._sock = listening_socket(mqtt.host, mqtt.port)
        self._sock.setblocking(False)
        self.status_keeper.start()
        try:
            for index in range(self._count):
                self._processes.append(await self._spawn(index))
            ready = [process.ready for process in self._processes]
            await asyncio.wait_for(asyncio.gather(*ready), START_TIMEOUT_S)
        except BaseException:
            await self.stop(abandon=True)  # nothing they received is committed
            raise
        log.info("the device endpoint runs in %d processes", self._count)

    async def stop(self, *, abandon: bool = False) -> None:
        """Each endpoint process stops accepting, answers what it received, and exits
        (``abandon``: its link is closed, and it acknowledges nothing more)."""
        self._stopping = True
        tasks = list(self._tasks)  # restarts first: what they start is stopped below
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for process in self._processes:
            if abandon:
                process.link.close()
            else:
                process.link.send([frames.STOP])
        await asyncio.gather(*(self._exited(process) for process in self._processes))
        if self._sock is not None:
            self._sock.close()
        await self.status_keeper.stop()

    def connected_through(self, device: str, process: _Process, at_ns: int) -> None:
        """``device`` connected through ``process`` at ``at_ns`` (the system's monotonic
        clock): the process it was in before closes its connection there, if it is still
        open, and forgets its session. Frames of two processes may come in either order:
        a connection told of after a later one is the one closed."""
        last = self._last.get(device)
        if last is not None and last[1] > at_ns:
            if last[0] is not process:
                process.link.send([frames.TAKEN_OVER, device, last[1]])
            return
        self._where[device] = process
        self._last[device] = (process, at_ns)
        if last is not None and last[0] is not process:
            last[0].link.send([frames.TAKEN_OVER, device, at_ns])

    def command_done(self, device: str, command_id: int, process: _Process) -> None:
        """``device`` acknowledged a command through ``process``: no other sends it."""
        for other in self._processes:
            if other is not process:
                other.link.send([frames.FORGET_COMMAND, device, command_id])

    def disconnected_from(self, device: str, process: _Process) -> None:
        """``device``'s connection through ``process`` ended."""
        if self._where.get(device) is process:
            del self._where[device]

    def wait_for_room(self, process: _Process) -> None:
        """The commit queue is full: read no more from ``process`` until it has room."""
        if process.paused:
            return
        process.paused = True
        process.link.pause()
        self._keep(self._resume_when_room(process))

    def lost(self, process: _Process) -> None:
        """``process``'s link is gone: its units are not connected anymore; unless the
        server is stopping, the process is started again."""
        for device in [d for d, p in self._where.items() if p is process]:
            del self._where[device]
        for device in [d for d, (p, _) in self._last.items() if p is process]:
            del self._last[device]
        if not self._stopping and process.started:
            self._keep(self._restart(process))

    async def _spawn(self, index: int) -> _Process:
        assert self._sock is not None
        ours, theirs = socket.socketpair()
        process = _Process(self, index)
        settings = self._app.settings.model_dump_json()
        data_dir = str(self._app.data_dir)
        setup = [frames.SETTINGS, settings, data_dir, self._commit_limit, self._ticket_keys]
        ours.sendall(frame_bytes(setup))
        fds = (theirs.fileno(), self._sock.fileno())
        module = "kenshin.entrypoints.mqtt.front"
        try:
            process.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, *map(str, fds), pass_fds=fds
            )
            ours.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.create_unix_connection(lambda: process.link, sock=ours)
        except BaseException:
            ours.close()  # a process started meanwhile sees its link gone, and exits
            raise
        finally:
            theirs.close()
        return process

    async def _exited(self, process: _Process) -> None:
        child = process.process
        if child is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.wait(), STOP_TIMEOUT_S)
        if child.returncode is not None:
            return
        log.error("endpoint process %d did not stop in time: killed", process.index)
        child.kill()
        await child.wait()

    async def _restart(self, process: _Process) -> None:
        """Start ``process`` again after RESTART_S, and again (waiting twice as long each
        time) until one listens or the server stops."""
        await self._exited(process)
        code = process.process.returncode if process.process else None
        log.error("endpoint process %d stopped unexpectedly (exit code %s)", process.index, code)
        delay = RESTART_S
        while not self._stopping:
            log.info("endpoint process %d starts again in %g s", process.index, delay)
            await asyncio.sleep(delay)
            fresh: _Process | None = None
            try:
                fresh = await self._spawn(process.index)
                self._processes[process.index] = fresh
                await asyncio.wait_for(fresh.ready, START_TIMEOUT_S)
            except Exception:  # whatever it was, the next try may do
                log.exception("endpoint process %d could not start again", process.index)
            else:
                return
            if fresh is not None:
                fresh.link.close()
                await self._exited(fresh)
            delay = min(2 * delay, RESTART_MAX_S)

    async def _resume_when_room(self, process: _Process) -> None:
        await self.commits.room()
        process.paused = False
        process.link.resume()

    def _keep(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _serial(data: bytes | None) -> int | None:
    return None if data is None else int.from_bytes(data, "big")


def endpoint_processes(app: App) -> int:
    """How many endpoint processes the settings ask for (``mqtt.processes``; 0: one per
    core); 1 means the endpoint runs in the server's own process."""
    asked = app.settings.mqtt.processes
    if app.settings.store.kind == "memory":
        return 1  # the memory store is the server's own: no other process reaches it
    if asked == 0:
        return cores()
    return asked
