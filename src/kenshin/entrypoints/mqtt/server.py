"""The device endpoint: MQTT over TLS, a client certificate from kenshin's CA required.

The TLS handshake refuses a unit without a certificate of our CA, with an
expired one, or below TLS 1.2, and each failed handshake is a security event
named by its cause (``handshakes``). Connections are ``TlsStream``s on
non-blocking ``ssl`` sockets (``tls``), accepted by a ``TlsListener``. A TLS 1.3
unit may resume its session with the ticket of its last connection (one ticket
per handshake); its certificate is then checked for expiry here, as OpenSSL
does not look at it again. A certificate that is revoked, or whose CN is not a
device id, is refused right after the handshake; so is every unit while the store
cannot be asked (it connects again at its next wake). A connection has
``connect_timeout_s`` from its accept to complete the handshake and send CONNECT,
and only so many may be at that stage at once from one address and with one
certificate (``admission``). Every ``revocation_check_s``
the connected units are checked again and a revoked one is closed. A second
connection with a unit's id takes over from the first. Commands queued in the
store reach their units (``commands``): the endpoint looks for new ones every
COMMAND_POLL_S. An MQTT 5 unit's CONNACK tells it when to report within the half
hour (``report_spread_s``; kenshin.domain.spread). Units' status messages are kept,
the latest of each unit, and stored in batches (``statuses``). ``stop`` stops
accepting, closes the connections still in their handshake, lets every session
acknowledge what it received once committed, and closes. Run in a process of its own
(``front``), the endpoint accepts on the listening socket the server made, and tells
the server through ``FrontHooks`` which units connect and what status they send.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from kenshin.config_endpoint import MqttConfig
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.domain.spread import FULL_SPREAD_S
from kenshin.entrypoints.mqtt import commands
from kenshin.entrypoints.mqtt.admission import Admission, Connecting, registration_refusal
from kenshin.entrypoints.mqtt.commands import CommandQueue, SessionState
from kenshin.entrypoints.mqtt.handshakes import handshake_failure
from kenshin.entrypoints.mqtt.listener import TlsListener
from kenshin.entrypoints.mqtt.peer import RevocationPoller, admitted_device, expired, serial_of
from kenshin.entrypoints.mqtt.reasons import NOT_AUTHORIZED, SESSION_TAKEN_OVER
from kenshin.entrypoints.mqtt.session import Peer, Services, Session
from kenshin.entrypoints.mqtt.statuses import StatusKeeper
from kenshin.entrypoints.mqtt.tls import TlsStream
from kenshin.entrypoints.tls_policy import harden
from kenshin.errors import StoreError
from kenshin.ports import Store
from kenshin.services.batching import Commits
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how the endpoint listens."""

    host: str = "0.0.0.0"  # noqa: S104 - units connect from the network; TLS guards it
    port: int = 8883
    connect_timeout_s: float = 10.0
    revocation_check_s: float = 2.0
    connecting_per_address: int = 100  # connections still before CONNECT, from one address
    connecting_per_certificate: int = 4  # ... with one certificate
    report_spread_s: int = FULL_SPREAD_S  # units' reporting offsets within it (CONNACK)


def endpoint_settings(mqtt: MqttConfig) -> EndpointSettings:
    """The endpoint's settings from the ``mqtt`` section."""
    return EndpointSettings(
        mqtt.host,
        mqtt.port,
        mqtt.connect_timeout_s,
        mqtt.revocation_check_s,
        mqtt.connecting_per_address,
        mqtt.connecting_per_certificate,
        mqtt.report_spread_s,
    )


@dataclass(frozen=True)
class FrontHooks:
    """An endpoint in a process of its own: the socket it accepts on (the server's), and
    what it tells the server: a unit's status message, a unit connected (when, on the
    system's monotonic clock, in ns) or gone (None), a command acknowledged (device,
    command id)."""

    listening: socket.socket
    on_status: Callable[[str, int, int, bytes], None]
    on_presence: Callable[[str, int | None], None]
    on_command_done: Callable[[str, int], None]


class DeviceEndpoint:
    """Serves meter units until ``stop``."""

    def __init__(
        self,
        settings: EndpointSettings,
        tls: ssl.SSLContext,
        store: Store,
        commits: Commits,
        security: SecurityLog,
        *,
        clock: Callable[[], float] = time.time,
        hooks: FrontHooks | None = None,
    ) -> None:
        self._settings = settings
        self._hooks = hooks
        self._tls = tls
        self._store = store
        self._commits = commits
        self._security = security
        self._clock = clock
        self._listener: TlsListener | None = None
        self._handshaking: set[asyncio.Task[None]] = set()
        self._sessions: dict[str, Session] = {}  # connected, by device id
        self._attached: dict[str, int] = {}  # when each connected (monotonic ns; processes)
        self._statuses = StatusKeeper(store, clock)
        # The latest status payload of each unit and when it came: for monitoring.
        self.statuses = self._statuses.latest
        self._states: dict[str, SessionState] = {}  # kept between connections
        self._expiries: dict[str, asyncio.TimerHandle] = {}  # states that end later
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller = RevocationPoller(store.certificates.revoked_serials, clock)
        self._admission = Admission(
            settings.connecting_per_address, settings.connecting_per_certificate
        )
        self._commands = CommandQueue(store, clock)
        if hooks is not None:
            self._commands.on_acknowledged = hooks.on_command_done
        self._services = Services(
            commits,
            security,
            settings.connect_timeout_s,
            clock,
            self._commands,
            self._statuses.offer if hooks is None else hooks.on_status,
            settings.report_spread_s,
        )
        self._watches: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        """The port listened on (the one the system gave when 0 was asked)."""
        assert self._listener is not None, "start() first"
        return self._listener.address[1]

    @property
    def connected(self) -> list[str]:
        """Device ids of the units connected now."""
        return sorted(self._sessions)

    async def start(self) -> None:
        """Listen (``serve`` says where, with its other listeners)."""
        # One session ticket per handshake (OpenSSL sends two by default, each costing
        # the server as much as a third of a handshake): a unit resumes with the last.
        self._tls.num_tickets = 1
        harden(self._tls)  # TLS 1.2+, AEAD suites with forward secrecy only
        settings = self._settings
        hooks = self._hooks
        self._listener = TlsListener(
            settings.host,
            settings.port,
            self._tls,
            self._on_stream,
            sock=None if hooks is None else hooks.listening,
        )
        self._poller.poll()  # what is revoked already is refused at connect
        await self._commands.poll()  # every command pending: units get them on subscribing
        if hooks is None:  # an endpoint process hands statuses to the server
            self._statuses.start()
        self._watches = [
            asyncio.create_task(self._watch_revocations()),
            asyncio.create_task(self._watch_commands()),
        ]

    async def stop(self) -> None:
        """Stop accepting; let sessions acknowledge what they received; close them."""
        if self._listener is not None:
            self._listener.close()
        for task in self._handshaking:  # no session yet: nothing to acknowledge
            task.cancel()
        for watch in self._watches:
            watch.cancel()
        for session in list(self._sessions.values()):
            await session.stop()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._statuses.stop()  # the statuses received are in the store
        for expiry in self._expiries.values():
            expiry.cancel()
        await self._commands.drain()  # acknowledgements received are in the store

    def _on_stream(self, stream: TlsStream) -> None:
        connecting = self._admission.enter(stream.address)
        if connecting is None:
            limit = self._admission.per_address
            detail = f"more than {limit} connections from its address before CONNECT: closed"
            self._security.record(
                SecurityEventKind.CONNECTIONS_LIMITED, None, stream.address, detail
            )
            stream.abort()
            return
        # One deadline from accept for the handshake and CONNECT: bytes trickling in do
        # not extend it.
        deadline = asyncio.get_running_loop().time() + self._settings.connect_timeout_s
        task = asyncio.create_task(self._serve(stream, connecting, deadline))
        self._tasks.add(task)
        self._handshaking.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, stream: TlsStream, connecting: Connecting, deadline: float) -> None:
        try:
            peer = await self._admit(stream, connecting, deadline)
            if peer is None:
                return

            def attach(session: Session, clean_start: bool) -> SessionState | None:
                connecting.release()  # connected: it counts no more against the limits
                return self._attach(session, clean_start)

            session = Session(peer, stream, self._services, connect_by=deadline)
            try:
                await session.run(attach)
            finally:
                if self._sessions.get(peer.device) is session:
                    del self._sessions[peer.device]
                    log.info("unit %s disconnected", peer.device)
                    self._attached.pop(peer.device, None)
                    if self._hooks is not None:
                        self._hooks.on_presence(peer.device, None)
                    self._end_session(peer.device, session.expiry_s)
        finally:
            connecting.release()

    async def _admit(
        self, stream: TlsStream, connecting: Connecting, deadline: float
    ) -> Peer | None:
        """The TLS handshake and the checks of the unit's certificate: who it is, or None
        (the connection is closed)."""
        if not await self._handshake(stream, deadline):
            return None
        der = stream.peer_certificate()
        try:
            device, refusal = await asyncio.to_thread(self._standing, der)
        except StoreError as exc:  # the store is down: the unit connects again later
            log.warning("a unit's connection is closed: its certificate cannot be checked: %s", exc)
            stream.abort()
            return None
        if device is None or der is None:
            self._security.record(
                SecurityEventKind.CERTIFICATE_REFUSED,
                None,
                stream.address,
                "revoked, or no device id as its CN",
            )
            stream.close()
            return None
        if stream.resumed() and expired(der, self._clock()):  # OpenSSL checked it only once
            detail = "client certificate: certificate has expired (resuming a TLS session)"
            self._security.record(
                SecurityEventKind.TLS_CERTIFICATE_REFUSED, device, stream.address, detail
            )
            stream.close()
            return None
        serial = serial_of(der)
        if not connecting.certify(serial):
            limit = self._admission.per_certificate
            detail = f"more than {limit} connections with its certificate before CONNECT: closed"
            self._security.record(
                SecurityEventKind.CONNECTIONS_LIMITED, device, stream.address, detail
            )
            stream.close()
            return None
        return Peer(device, serial, stream.address, refusal)

    def _standing(self, der: bytes | None) -> tuple[str | None, str | None]:
        """The device a certificate names, None if it names none or is revoked (both in
        a worker thread: the store is asked); and why it may not connect all the same."""
        device = admitted_device(der, self._store.certificates.is_revoked)
        if device is None or der is None:
            return None, None
        return device, registration_refusal(self._store, device, serial_of(der))

    async def _handshake(self, stream: TlsStream, deadline: float) -> bool:
        """Whether the TLS handshake succeeded by ``deadline`` (loop time); if it did not,
        the security event is recorded and the connection closed."""
        task = asyncio.current_task()
        try:
            await stream.handshake(deadline - asyncio.get_running_loop().time())
        except (ssl.SSLError, OSError, ValueError) as exc:
            kind, detail = handshake_failure(exc)
            self._security.record(kind, None, stream.address, detail)
            stream.abort()
            return False
        except asyncio.CancelledError:  # the endpoint stops
            stream.abort()
            return False
        finally:
            self._handshaking.discard(task)
        return True

    def _end_session(self, device: str, expiry_s: int | None) -> None:
        """The unit's last connection ended: its state goes now, later or never."""
        if expiry_s == 0:
            self._states.pop(device, None)
        elif expiry_s is not None:
            loop = asyncio.get_running_loop()
            self._expiries[device] = loop.call_later(expiry_s, self._expire, device)

    def _expire(self, device: str) -> None:
        self._expiries.pop(device, None)
        if device not in self._sessions:
            self._states.pop(device, None)
            log.info("the session of unit %s expired", device)

    def _attach(self, session: Session, clean_start: bool) -> SessionState | None:
        """Register ``session`` for its unit, taking over from an earlier connection."""
        device = session.peer.device
        expiry = self._expiries.pop(device, None)
        if expiry is not None:
            expiry.cancel()
        earlier = self._sessions.get(device)
        if earlier is not None:
            log.info("unit %s connected again: the earlier connection is closed", device)
            task = asyncio.ensure_future(earlier.stop(SESSION_TAKEN_OVER))
            task.add_done_callback(lambda _: None)
        self._sessions[device] = session
        if self._hooks is not None:
            self._attached[device] = now = time.monotonic_ns()
            self._hooks.on_presence(device, now)
        if clean_start:
            self._states.pop(device, None)
        state = self._states.get(device)
        self._states[device] = state or session.state
        return state

    def command_done(self, device: str, command_id: int) -> None:
        """The unit acknowledged command ``command_id`` through another endpoint process:
        it is not sent again from this one."""
        self._commands.forget(device, command_id)

    def taken_over(self, device: str, before_ns: int) -> None:
        """The unit connected through another endpoint process at ``before_ns``: its
        connection here, if older, is closed, and what its session kept here forgotten."""
        session = self._sessions.get(device)
        if session is not None:
            if self._attached.get(device, 0) >= before_ns:
                return  # connected here since: this one stays
            log.info("unit %s connected again elsewhere: this connection is closed", device)
            task = asyncio.ensure_future(session.stop(SESSION_TAKEN_OVER))
            task.add_done_callback(lambda _: None)
        self._states.pop(device, None)
        expiry = self._expiries.pop(device, None)
        if expiry is not None:
            expiry.cancel()

    async def _watch_commands(self) -> None:
        while True:
            await asyncio.sleep(commands.COMMAND_POLL_S)
            try:
                new = await self._commands.poll()
            except Exception:  # the store may be busy: look again next time
                log.exception("could not read new commands")
                continue
            for command in new:
                session = self._sessions.get(command.device)
                if session is not None:
                    session.offer_command(command)

    async def _watch_revocations(self) -> None:
        while True:
            await asyncio.sleep(self._settings.revocation_check_s)
            try:
                revoked = await asyncio.to_thread(self._poller.poll)
            except Exception:  # the store may be busy: look again next time
                log.exception("could not check revoked certificates")
                continue
            for session in list(self._sessions.values()):
                if session.peer.serial in revoked and session.revoked():
                    await session.stop(NOT_AUTHORIZED)
