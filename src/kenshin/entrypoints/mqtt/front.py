"""An endpoint process of ``kenshin serve``: TLS and MQTT on a core of its own.

``kenshin serve`` (``fronts``) starts ``mqtt.processes`` of these, each with the one
listening socket and its end of a link (``link``). Each runs a ``DeviceEndpoint`` on
its own connection to the store (certificates, registrations and commands are read
there; commands' sendings and acknowledgements written there), and hands the server:
each payload to commit (the PUBACK still goes only once the server says it is
committed), each status message, each security event, and which units connect and
go. It stops when the server says so, or when the link to it is gone: then nothing
more is acknowledged, and units send again what was not.

    python -m kenshin.entrypoints.mqtt.front LINK_FD LISTEN_FD
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from kenshin.bootstrap import App, open_site
from kenshin.config import Settings
from kenshin.domain.model import SecurityEvent
from kenshin.entrypoints import logs
from kenshin.entrypoints.mqtt import link as frames
from kenshin.entrypoints.mqtt.link import SERIAL_BYTES, Frame, Link
from kenshin.entrypoints.mqtt.server import DeviceEndpoint, FrontHooks, endpoint_settings
from kenshin.entrypoints.mqtt.tickets import share_ticket_keys
from kenshin.services.batching import Answer, CertificateRevoked, CommitError
from kenshin.services.ingest import Incoming
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)


class RemoteCommits:
    """The server's commit queue, seen from an endpoint process: payloads go over the
    link, and each is answered when the server's answer comes back."""

    def __init__(self, link: Link, limit: int) -> None:
        self._link = link
        self._limit = limit  # payloads unanswered before connections stop reading
        self._answers: dict[int, Answer] = {}
        self._seq = 0  # of the last payload offered; the server answers by it
        self._batch: list[list[object]] = []  # offered this loop turn, not sent yet
        self._room: asyncio.Future[None] | None = None
        self._gone = False

    def offer(self, item: Incoming, answer: Answer) -> None:
        """Send ``item`` to be committed (with what else this loop turn offers); ``answer``
        once the server answers."""
        if self._gone:
            raise CommitError("the server is not reachable: nothing more is accepted")
        serial = None if item.serial is None else item.serial.to_bytes(SERIAL_BYTES, "big")
        self._batch.append(
            [item.source, item.payload, item.received_at, item.kind, item.device, serial]
        )
        self._seq += 1
        self._answers[self._seq] = answer
        if len(self._batch) == 1:
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        batch, self._batch = self._batch, []
        self._link.send([frames.COMMITS, self._seq - len(batch) + 1, batch])

    def full(self) -> bool:
        """Whether as many payloads as the limit wait for their answers."""
        return len(self._answers) >= self._limit and not self._gone

    async def room(self) -> None:
        """Wait until fewer than the limit wait for their answers."""
        while self.full():
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)

    def answered(self, seq: int, error: str | None, revoked: bool) -> None:
        """The server's answer for payload ``seq``."""
        answer = self._answers.pop(seq, None)
        if answer is not None:
            if error is None:
                answer(None)
            else:
                answer(CertificateRevoked(error) if revoked else CommitError(error))
        self._wake()

    def gone(self) -> None:
        """The link is gone: no payload waiting is acknowledged."""
        self._gone = True
        answers, self._answers = self._answers, {}
        for answer in answers.values():
            answer(CommitError("the server is not reachable: not acknowledged"))
        self._wake()

    def _wake(self) -> None:
        if self._room is not None and not self._room.done() and not self.full():
            self._room.set_result(None)


class Front:
    """One endpoint process: its endpoint, and its end of the link."""

    def __init__(self, app: App, listening: socket.socket, setup: Setup) -> None:
        self.link = Link(self._on_frame, self._on_lost)
        self.stopping = asyncio.Event()
        self.commits = RemoteCommits(self.link, setup.commit_limit)
        security = SecurityLog(self._security_event)
        hooks = FrontHooks(listening, self._status, self._presence, self._command_done)
        tls = app.endpoint_tls()
        if not share_ticket_keys(tls, setup.ticket_keys):
            log.warning(
                "the endpoint processes cannot share one session-ticket key: a unit that"
                " reaches another process than its last makes a full TLS handshake"
            )
        self.endpoint = DeviceEndpoint(
            endpoint_settings(app.settings.mqtt),
            tls,
            app.store,
            self.commits,
            security,
            hooks=hooks,
        )

    def _on_frame(self, frame: Frame) -> None:
        kind = frame[0]
        if kind == frames.COMMITTED:
            for seq in frame[1]:
                self.commits.answered(seq, None, False)
        elif kind == frames.ANSWER:
            self.commits.answered(frame[1], frame[2], frame[3])
        elif kind == frames.TAKEN_OVER:
            self.endpoint.taken_over(frame[1], frame[2])
        elif kind == frames.FORGET_COMMAND:
            self.endpoint.command_done(frame[1], frame[2])
        elif kind == frames.STOP:
            self.stopping.set()

    def _on_lost(self, exc: Exception | None) -> None:
        if not self.stopping.is_set():
            log.error("the link to the server is gone (%s): this endpoint process stops", exc)
        self.commits.gone()
        self.stopping.set()

    def _security_event(self, event: SecurityEvent) -> None:
        self.link.send(
            [frames.SECURITY, event.kind, event.who, event.address, event.detail, event.at]
        )

    def _status(self, device: str, serial: int, at: int, payload: bytes) -> None:
        self.link.send([frames.STATUS, device, serial.to_bytes(SERIAL_BYTES, "big"), at, payload])

    def _command_done(self, device: str, command_id: int) -> None:
        self.link.send([frames.COMMAND_DONE, device, command_id])

    def _presence(self, device: str, connected_ns: int | None) -> None:
        if connected_ns is None:
            self.link.send([frames.DISCONNECTED, device])
        else:
            self.link.send([frames.CONNECTED, device, connected_ns])


@dataclass(frozen=True)
class Setup:
    """What the server tells an endpoint process first."""

    settings: Settings
    data_dir: Path
    commit_limit: int  # payloads unanswered before its connections stop reading
    ticket_keys: bytes  # the session-ticket key of every endpoint process (``tickets``)


def _read_setup(sock: socket.socket) -> Setup:
    """The first frame from the server."""
    header = _read_exactly(sock, 4)
    body = _read_exactly(sock, int.from_bytes(header, "big"))
    decoded = frames.decode_frame(body)
    if decoded[0] != frames.SETTINGS:
        raise SystemExit(f"the server sent {decoded[0]} first, not the settings")
    _, settings, data_dir, commit_limit, keys = decoded
    return Setup(Settings.model_validate_json(settings), Path(data_dir), commit_limit, keys)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise SystemExit("the server closed the link before sending the settings")
        data += chunk
    return bytes(data)


async def _run(link_sock: socket.socket, listening: socket.socket) -> None:
    setup = _read_setup(link_sock)
    logging.getLogger().setLevel(setup.settings.logging.level)
    app = open_site(setup.settings, setup.data_dir)
    try:
        front = Front(app, listening, setup)
        link_sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: front.link, sock=link_sock)
        await front.endpoint.start()
        front.link.send([frames.READY])
        await front.stopping.wait()
        await front.endpoint.stop()  # what was received is answered first
        front.link.close()
        await front.link.closed.wait()
    finally:
        app.close()


def main(argv: list[str]) -> int:
    """Serve units until the server says to stop (or is gone)."""
    # The server decides when its endpoint processes stop: a Ctrl-C in the terminal
    # reaches the whole process group, and must not cut off acknowledgements.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure(logging.INFO)
    link_sock = socket.socket(fileno=int(argv[1]))
    listening = socket.socket(fileno=int(argv[2]))
    listening.setblocking(False)
    asyncio.run(_run(link_sock, listening))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
