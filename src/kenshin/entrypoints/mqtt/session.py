"""One unit's connection to the device endpoint, from CONNECT to close.

A unit may publish only to its own ``dt/kenshin/{id}/readings|echonet|status``
topics, subscribe only under ``cmd/kenshin/{id}/``, at QoS 0 or 1. Readings and
ECHONET frames go to the commit queue; a QoS 1 PUBLISH is acknowledged only when
its batch is committed, and acknowledgements leave in the order the PUBLISHes
came. Anything refused is a security event, and nothing of it is stored.
Commands go the other way (``commands``): the unit's PUBACKs acknowledge them.
An MQTT 5 unit's CONNACK carries its reporting offset in the half hour (``connack``).
MQTT 5 units get the protocol's reason codes; MQTT 3.1.1 has none for most
refusals, so the connection is closed instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from kenshin.domain.devices import Command
from kenshin.domain.payloads import CODECS
from kenshin.domain.readings_json import MAX_PAYLOAD_BYTES
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.domain.spread import FULL_SPREAD_S
from kenshin.entrypoints.mqtt.acks import Acknowledgements
from kenshin.entrypoints.mqtt.codec import (
    CLIENT_IDENTIFIER_NOT_VALID,
    ConnAck,
    Connect,
    Disconnect,
    MalformedPacket,
    Packet,
    PacketReader,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    Publish,
    Subscribe,
    Unsubscribe,
    encode,
)
from kenshin.entrypoints.mqtt.commands import (
    NEVER_EXPIRES,
    CommandQueue,
    CommandSender,
    SessionState,
    session_expiry,
)
from kenshin.entrypoints.mqtt.connack import MAX_PACKET_BYTES, accepted_properties
from kenshin.entrypoints.mqtt.reasons import (
    BAD_AUTHENTICATION_METHOD,
    KEEP_ALIVE_TIMEOUT,
    MQTT5,
    NOT_AUTHORIZED,
    PACKET_TOO_LARGE,
    QOS_NOT_SUPPORTED,
    RETAIN_NOT_SUPPORTED,
    SERVER_SHUTTING_DOWN,
    TOPIC_ALIAS_INVALID,
    UNSPECIFIED_ERROR,
    Refused,
)
from kenshin.entrypoints.mqtt.tls import TlsStream
from kenshin.services.batching import CertificateRevoked, CommitError, Commits
from kenshin.services.ingest import Incoming
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

STATUS_SUFFIX = "status"  # a unit's status: answered here, not a payload of readings


@dataclass(slots=True)
class Peer:
    """Who is on the other end, from the TLS handshake."""

    device: str
    serial: int
    address: str
    refusal: str | None = None  # why its CONNECT is refused (not authorized), if it is


@dataclass(frozen=True)
class Services:
    """What every session of an endpoint shares."""

    commits: Commits
    security: SecurityLog
    connect_timeout_s: float
    clock: Callable[[], float]
    commands: CommandQueue
    on_status: Callable[[str, int, int, bytes], None] = lambda *_: None  # device, serial, at
    spread_s: int = FULL_SPREAD_S  # the window of units' reporting offsets (CONNACK)


class Session:
    """One connection; ``run`` serves it until it ends."""

    def __init__(
        self,
        peer: Peer,
        stream: TlsStream,
        services: Services,
        *,
        connect_by: float | None = None,
    ) -> None:
        """``connect_by``: the loop time by which CONNECT must have come (by default
        the connect timeout from now)."""
        self.peer = peer
        self._stream = stream
        self._commits = services.commits
        self._security = services.security
        if connect_by is None:
            connect_by = asyncio.get_running_loop().time() + services.connect_timeout_s
        self._connect_by = connect_by
        self._clock = services.clock
        self._on_status = services.on_status
        self._spread_s = services.spread_s
        self._packets = PacketReader(MAX_PACKET_BYTES, server_side=True)
        self._acks = Acknowledgements(self._write, self._commit_failed)
        self._source = f"mqtt:{peer.device}"
        self._early: list[Packet] = []  # packets that came in CONNECT's chunk
        self._disconnect_code: int | None = None  # DISCONNECT to send when closing (MQTT 5)
        self.level = 4
        self._commands = CommandSender(peer.device, services.commands, self._send, self._event)
        self.connected = False  # CONNECT accepted
        self._closing = False
        self._revoked = False
        self._reading: asyncio.Task[None] | None = None  # the task, while it reads packets
        # How long the unit's session outlives this connection: 0 it ends with it, None
        # never while the server runs (MQTT 5: the Session Expiry Interval; 3.1.1: the
        # clean session flag).
        self.expiry_s: int | None = 0

    @property
    def state(self) -> SessionState:
        """What this unit's next connection may resume."""
        return self._commands.state

    def offer_command(self, command: Command) -> None:
        """Send the unit a command just queued, if it is subscribed to it."""
        self._commands.offer(command)

    # the connection
    async def run(self, attach: Callable[[Session, bool], SessionState | None]) -> None:
        """Serve the connection. ``attach`` registers the session once CONNECT is accepted
        and gives the unit's state (None: keep none, a clean start)."""
        task = self._reading = asyncio.current_task()  # stop() cancels its reading
        try:
            await self._converse(attach)
        except asyncio.CancelledError:
            if not self._closing:  # cancelled from outside, not stopped: pass it on
                raise
            if task is not None:
                task.uncancel()  # this cancellation ended the reading, as it was meant to
        finally:
            self._reading = None  # what follows is not cancelled by stop()
            self._commands.stop_retrying()
            await self._acks.settled()  # acknowledge what was received, once committed
            await self._close()

    async def _converse(self, attach: Callable[[Session, bool], SessionState | None]) -> None:
        """Read and answer packets until the unit goes, breaks a rule, or stop() is called."""
        try:
            connect = await self._first_packet()
            self._accept(connect, attach)
            if self.level < MQTT5:  # MQTT 5 sends a PUBLISH again only on a new connection
                self._commands.retry()
            await self._serve(connect.keep_alive)
        except Refused as exc:
            await self._refuse(exc)
        except MalformedPacket as exc:
            self._security.record(
                SecurityEventKind.MALFORMED_PACKET, self.peer.device, self.peer.address, str(exc)
            )
            await self._refuse(Refused(exc.reason_code, str(exc)))
        except (ConnectionError, TimeoutError, OSError):
            pass

    async def _first_packet(self) -> Connect:
        try:
            async with asyncio.timeout_at(self._connect_by):
                return await self._read_connect()
        except TimeoutError:
            self._event(
                SecurityEventKind.CONNECT_TIMEOUT,
                "no CONNECT within mqtt.connect_timeout_s of connecting",
            )
            raise

    async def _read_connect(self) -> Connect:
        while True:
            data = await self._stream.read()
            if not data:
                raise ConnectionError("closed before CONNECT")
            packets = self._packets.feed(data)
            if packets:
                first = packets[0]
                if not isinstance(first, Connect):  # the reader refuses this itself
                    raise Refused(UNSPECIFIED_ERROR, "the first packet must be CONNECT")
                self.level = self._acks.level = first.protocol_level
                self._early = packets[1:]
                return first

    def _accept(
        self, connect: Connect, attach: Callable[[Session, bool], SessionState | None]
    ) -> None:
        if self.peer.refusal is not None:
            self._event(SecurityEventKind.CERTIFICATE_REFUSED, self.peer.refusal)
            self._send(ConnAck(reason_code=NOT_AUTHORIZED))
            raise Refused(NOT_AUTHORIZED, self.peer.refusal)
        if connect.properties.authentication_method is not None:  # no enhanced authentication
            self._send(ConnAck(reason_code=BAD_AUTHENTICATION_METHOD))
            raise Refused(BAD_AUTHENTICATION_METHOD, "the certificate is the only authentication")
        if connect.client_id != self.peer.device:
            self._security.record(
                SecurityEventKind.CLIENT_ID_MISMATCH,
                self.peer.device,
                self.peer.address,
                f"certificate of {self.peer.device!r} connected as client id {connect.client_id!r}",
            )
            self._send(ConnAck(reason_code=CLIENT_IDENTIFIER_NOT_VALID))
            raise Refused(CLIENT_IDENTIFIER_NOT_VALID, "client id is not the certificate's")
        self.expiry_s = session_expiry(connect)
        state = attach(self, connect.clean_start)
        present = state is not None and not connect.clean_start
        if state is not None:
            self._commands.state = state
        self._commands.receive_maximum = connect.properties.receive_maximum or 65535
        properties = Properties()
        if self.level == MQTT5:
            properties = accepted_properties(self.peer.device, self._spread_s)
        self._send(ConnAck(session_present=present, properties=properties))
        self.connected = True
        log.info(
            "unit %s connected from %s (MQTT %s)", self.peer.device, self.peer.address, self.level
        )
        self._commands.resume(present)

    async def _serve(self, keep_alive: int) -> None:
        idle = None if keep_alive == 0 else keep_alive * 1.5
        early, self._early = self._early, []
        for packet in early:
            self._handle(packet)
        stream, commits = self._stream, self._commits
        while not self._closing:
            try:
                data = await stream.read(idle)
            except TimeoutError:
                raise Refused(KEEP_ALIVE_TIMEOUT, "no packet within 1.5 x keep alive") from None
            if not data:
                return
            for packet in self._packets.feed(data):
                self._handle(packet)
                if self._closing:  # a DISCONNECT, or a commit failed: read no more
                    return
            if commits.full():  # the store is behind: read no more until it catches up
                await commits.room()
            if stream.buffered():  # the unit reads slowly: wait for it before reading more
                await stream.drain()

    # packets
    def _handle(self, packet: Packet) -> None:
        if isinstance(packet, Publish):
            self._publish(packet)
        elif isinstance(packet, PubAck):
            self._commands.acknowledged(packet)
        elif isinstance(packet, Subscribe):
            self._send(self._commands.subscribe(packet))
            self._commands.send_pending()  # after the SUBACK: what the new filters match
        elif isinstance(packet, Unsubscribe):
            self._send(self._commands.unsubscribe(packet, self.level))
        elif isinstance(packet, PingReq):
            self._send(PingResp())
        elif isinstance(packet, Disconnect):
            self._closing = True
            asked = packet.properties.session_expiry_interval
            if asked is not None and self.expiry_s != 0:  # from 0 it may not change
                self.expiry_s = None if asked == NEVER_EXPIRES else asked
        else:
            raise Refused(0x82, f"a unit does not send {type(packet).__name__}")

    def _publish(self, packet: Publish) -> None:
        if packet.properties.topic_alias is not None:  # the CONNACK announced no aliases
            self._event(
                SecurityEventKind.MALFORMED_PACKET, f"topic alias {packet.properties.topic_alias}"
            )
            raise Refused(TOPIC_ALIAS_INVALID, "topic aliases are not supported: the maximum is 0")
        if packet.qos > 1:
            self._event(SecurityEventKind.QOS_REFUSED, f"QoS {packet.qos} to {packet.topic!r}")
            raise Refused(QOS_NOT_SUPPORTED, "QoS 2 is not supported: the maximum is 1")
        if packet.retain and self.level == MQTT5:
            raise Refused(RETAIN_NOT_SUPPORTED, "retained messages are not supported")
        if len(packet.payload) > MAX_PAYLOAD_BYTES:
            self._event(
                SecurityEventKind.PAYLOAD_TOO_LARGE,
                f"{len(packet.payload)} bytes to {packet.topic!r}",
            )
            raise Refused(PACKET_TOO_LARGE, f"payloads are limited to {MAX_PAYLOAD_BYTES} bytes")
        kind = self._topic_kind(packet.topic)
        if kind is None:
            self._event(SecurityEventKind.TOPIC_REFUSED, f"publish to {packet.topic!r}")
            if self.level == MQTT5 and packet.qos == 1 and packet.packet_id is not None:
                self._acks.answered(packet.packet_id, NOT_AUTHORIZED)
                return
            raise Refused(
                NOT_AUTHORIZED, f"a unit publishes only under dt/kenshin/{self.peer.device}/"
            )
        packet_id = packet.packet_id if packet.qos == 1 else None
        if kind == STATUS_SUFFIX:
            self._on_status(self.peer.device, self.peer.serial, int(self._clock()), packet.payload)
            self._acks.answered(packet_id)
            return
        peer = self.peer
        now = int(self._clock())
        item = Incoming(self._source, packet.payload, now, kind, peer.device, serial=peer.serial)
        try:
            self._commits.offer(item, self._acks.after_commit(packet_id))
        except CommitError as exc:  # shutting down: the unit sends it again later
            self._acks.fail(exc)

    def _topic_kind(self, topic: str) -> str | None:
        parts = topic.split("/")
        if (
            len(parts) == 4
            and parts[:3] == ["dt", "kenshin", self.peer.device]
            and (parts[3] in CODECS or parts[3] == STATUS_SUFFIX)
        ):
            return parts[3]
        return None

    def _commit_failed(self, error: CommitError) -> None:
        """The unit keeps what is not acknowledged and sends it again: close without."""
        log.warning("unit %s: %s; closing without acknowledging", self.peer.device, error)
        revoked = isinstance(error, CertificateRevoked) and self.revoked()
        if revoked and self.level == MQTT5 and self.connected:
            self._send(Disconnect(NOT_AUTHORIZED))  # why, before closing
        self._closing = True
        self._stream.close()
        self._stop_reading()

    def _write(self, data: bytes) -> None:
        if not self._stream.is_closing():
            self._stream.write(data)

    # ending
    async def stop(self, code: int = SERVER_SHUTTING_DOWN) -> None:
        """Stop reading; acknowledge what was received once it is committed; then close."""
        self._closing = True
        if self.level == MQTT5 and self.connected:
            self._disconnect_code = code
        # Read nothing more: what was received is still committed and acknowledged.
        self._stream.pause_reading()
        self._stop_reading()

    def _stop_reading(self) -> None:
        """Cancel the reading of packets, once, if it goes on (the reading itself, when it
        is what stops, sees ``_closing`` and ends)."""
        reading, self._reading = self._reading, None
        if reading is not None and reading is not asyncio.current_task():
            reading.cancel()

    def revoked(self) -> bool:
        """Note that the unit's certificate is revoked (a security event): whether that is
        news. The session is then closed, by ``stop`` or as its PUBLISHes are refused."""
        if self._revoked:
            return False
        self._revoked = True
        self._event(
            SecurityEventKind.REVOKED_WHILE_CONNECTED,
            "its certificate was revoked: connection closed",
        )
        return True

    def _event(self, kind: SecurityEventKind, detail: str) -> None:
        self._security.record(kind, self.peer.device, self.peer.address, detail)

    async def _refuse(self, refusal: Refused) -> None:
        log.info("unit %s refused: %s", self.peer.device, refusal)
        if self.level == MQTT5 and self.connected:
            self._send(Disconnect(refusal.code))

    async def _close(self) -> None:
        if self._disconnect_code is not None:
            self._send(Disconnect(self._disconnect_code))
        # What was written goes out first, then TLS close_notify; the unit has a while
        # to answer with its own before the socket is closed anyway.
        self._stream.close()
        await self._stream.wait_closed()

    def _send(self, packet: Packet) -> bool:
        """Write ``packet``; whether the connection was still open to take it."""
        if self._stream.is_closing():
            return False
        self._stream.write(encode(packet, self.level))
        return True
