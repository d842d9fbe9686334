"""Commands to units: the endpoint's view of the store's queue, and each connection's part.

The store keeps the queue (``kenshin devices resend`` adds to it from a process of its
own). ``CommandQueue`` loads what is pending when the endpoint starts, then polls for
new commands every COMMAND_POLL_S. A command goes to its unit while the unit is
connected and subscribed to a filter matching ``cmd/kenshin/{id}/{name}``: a PUBLISH
at the subscription's QoS (at most 1) with a packet id new to the session. The unit's
PUBACK marks it acknowledged in the store. One not acknowledged goes again, DUP set:
with its packet id when the unit resumes its session (clean start 0, while the server
runs); on a new session (a clean start, or after a restart) once the unit subscribes;
and to an MQTT 3.1.1 unit every RETRY_S while it stays connected. MQTT 5 forbids
sending a PUBLISH again on the same connection (MQTT-4.4.0-1), so an MQTT 5 unit gets
it again when it reconnects. A QoS 0 subscription gets commands at QoS 0: each counts
as acknowledged once sent, as none comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kenshin.domain.commands import command_topic
from kenshin.domain.devices import Command
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.entrypoints.mqtt.codec import (
    Connect,
    Packet,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    topic_matches,
)
from kenshin.entrypoints.mqtt.reasons import MQTT5, NOT_AUTHORIZED
from kenshin.ports import Store

log = logging.getLogger(__name__)

COMMAND_POLL_S = 1.0  # how soon a command queued by another process goes out
RETRY_S = 30.0  # MQTT 3.1.1: how long a PUBLISH waits for its PUBACK before it goes again
_POLL_LIMIT = 1000
_NO_SUBSCRIPTION_EXISTED = 0x11
_MAX_PACKET_ID = 65535


@dataclass(slots=True)
class InFlight:
    """A command sent at QoS 1 and not acknowledged yet; when it went (loop time)."""

    command: Command
    sent_at: float


@dataclass(slots=True)
class SessionState:
    """What outlives one connection of a unit (while the server runs): its subscriptions
    with the QoS granted, and the commands sent it and not acknowledged, by packet id."""

    subscriptions: dict[str, int] = field(default_factory=dict)
    in_flight: dict[int, InFlight] = field(default_factory=dict)
    last_packet_id: int = 0


class CommandQueue:
    """The commands not acknowledged yet, by unit; sendings and acknowledgements go to
    the store in the background, one after another in the order they happened."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[str, dict[int, Command]] = {}  # device -> id -> command
        self._last = 0  # the highest id read
        self._writes: set[asyncio.Future[None]] = set()
        self._last_write: asyncio.Future[None] | None = None  # the next write waits for it
        # Told of each acknowledgement (device, command id): the other endpoint processes.
        self.on_acknowledged: Callable[[str, int], None] = lambda *_: None

    async def poll(self) -> list[Command]:
        """Read the commands added since the last poll (the first: all pending); them."""
        found: list[Command] = []
        while True:
            batch = await asyncio.to_thread(
                self._store.commands.commands_after, self._last, _POLL_LIMIT
            )
            for command in batch:
                self._pending.setdefault(command.device, {})[command.id] = command
                self._last = command.id
            found += batch
            if len(batch) < _POLL_LIMIT:
                return found

    def pending(self, device: str) -> list[Command]:
        """The unit's commands not acknowledged, oldest first."""
        return list(self._pending.get(device, {}).values())

    def is_pending(self, command: Command) -> bool:
        """Whether the command is still waiting for its acknowledgement."""
        return command.id in self._pending.get(command.device, {})

    def sent(self, command: Command) -> None:
        """Count a sending of ``command``."""
        queued = self._pending.get(command.device, {})
        if command.id in queued:
            queued[command.id] = replace(command, sent_count=queued[command.id].sent_count + 1)
        self._write(self._store.commands.command_sent, command.id)

    def acknowledged(self, command: Command) -> None:
        """The unit has ``command``: it is no longer pending."""
        self.forget(command.device, command.id)
        self._write(self._store.commands.acknowledge_command, command.id)
        self.on_acknowledged(command.device, command.id)

    def forget(self, device: str, command_id: int) -> None:
        """Command ``command_id`` is no longer pending (the unit acknowledged it here, or
        through another endpoint process)."""
        self._pending.get(device, {}).pop(command_id, None)

    async def drain(self) -> None:
        """Wait until the store has every sending and acknowledgement."""
        if self._writes:
            await asyncio.wait(self._writes)

    def _write(self, write: Callable[[int, int], None], command_id: int) -> None:
        """Write to the store after the writes before it: a command's sending is in the
        store before its acknowledgement, whichever thread comes first."""
        at = int(self._clock())
        done = asyncio.ensure_future(self._after(self._last_write, write, command_id, at))
        self._last_write = done
        self._writes.add(done)
        done.add_done_callback(self._written)

    @staticmethod
    async def _after(
        before: asyncio.Future[None] | None,
        write: Callable[[int, int], None],
        command_id: int,
        at: int,
    ) -> None:
        if before is not None:
            await asyncio.wait([before])  # done, failed or cancelled: this one goes next
        await asyncio.to_thread(write, command_id, at)

    def _written(self, done: asyncio.Future[None]) -> None:
        self._writes.discard(done)
        if not done.cancelled() and done.exception() is not None:
            # The command stays pending in the store: it goes again after a restart.
            log.error("could not record a command's delivery: %s", done.exception())


class CommandSender:
    """One connection's part: the unit's subscriptions, the commands sent it, their
    PUBACKs. ``send`` writes a packet and says whether the connection took it."""

    __slots__ = (
        "_queue",
        "_refused",
        "_retries",
        "_retrying",
        "_send",
        "device",
        "receive_maximum",
        "state",
    )

    def __init__(
        self,
        device: str,
        queue: CommandQueue,
        send: Callable[[Packet], bool],
        refused: Callable[[SecurityEventKind, str], None],
    ) -> None:
        self.device = device
        self.state = SessionState()
        self.receive_maximum = _MAX_PACKET_ID  # PUBLISHes the unit takes unacknowledged
        self._queue = queue
        self._send = send
        self._refused = refused
        self._retries = False  # MQTT 3.1.1: what is not acknowledged goes again (retry)
        self._retrying: asyncio.Task[None] | None = None  # only while a PUBLISH is in flight

    def subscribe(self, packet: Subscribe) -> SubAck:
        """Keep the filters under the unit's own ``cmd/kenshin/{id}/``; the SUBACK."""
        codes = []
        own = command_topic(self.device, "")
        for sub in packet.subscriptions:
            name = sub.topic_filter
            if name.startswith(own) and "+" not in name[: len(own)] and not name.startswith("$"):
                self.state.subscriptions[name] = min(sub.qos, 1)
                codes.append(min(sub.qos, 1))
            else:
                self._refused(SecurityEventKind.SUBSCRIBE_REFUSED, f"subscribe to {name!r}")
                codes.append(NOT_AUTHORIZED)
        return SubAck(packet.packet_id, tuple(codes))

    def unsubscribe(self, packet: Unsubscribe, level: int) -> UnsubAck:
        """Drop the filters; the UNSUBACK (reason codes at MQTT 5 only)."""
        codes = []
        for name in packet.topic_filters:
            found = self.state.subscriptions.pop(name, None) is not None
            codes.append(0 if found else _NO_SUBSCRIPTION_EXISTED)
        return UnsubAck(packet.packet_id, tuple(codes) if level == 5 else ())

    def resume(self, present: bool) -> None:
        """After CONNACK: a resumed session's unacknowledged commands again, with their
        packet ids; then whatever else the subscriptions match."""
        if present:
            for packet_id, flight in list(self.state.in_flight.items()):
                if self._queue.is_pending(flight.command):
                    self._publish(flight.command, 1, packet_id)
                else:
                    del self.state.in_flight[packet_id]
        self.send_pending()

    def send_pending(self) -> None:
        """Send each pending command the subscriptions match and the unit does not have."""
        for command in self._queue.pending(self.device):
            self.offer(command)

    def offer(self, command: Command) -> None:
        """Send ``command`` if a subscription matches it, it is not in flight already and
        the unit's receive maximum leaves room."""
        in_flight = self.state.in_flight
        if any(f.command.id == command.id for f in in_flight.values()):
            return
        topic = command_topic(self.device, command.name)
        granted = [q for f, q in self.state.subscriptions.items() if topic_matches(f, topic)]
        if not granted:
            return
        if max(granted) == 0:
            if self._publish(command, 0, None):
                self._queue.acknowledged(command)
        elif len(in_flight) < self.receive_maximum:
            self._publish(command, 1, self._packet_id())

    def acknowledged(self, packet: PubAck) -> None:
        """The unit's PUBACK: its command is acknowledged; room for the next ones."""
        flight = self.state.in_flight.pop(packet.packet_id, None)
        if flight is None:
            log.info("unit %s: PUBACK %d for nothing in flight", self.device, packet.packet_id)
            return
        if packet.reason_code >= 0x80:  # the unit took it, but says it will not act on it
            log.warning(
                "unit %s refused command %d: reason 0x%02X",
                self.device,
                flight.command.id,
                packet.reason_code,
            )
        self._queue.acknowledged(flight.command)
        self.send_pending()

    def retry(self) -> None:
        """Send again, DUP set, each PUBLISH not acknowledged within RETRY_S, until
        ``stop_retrying`` (MQTT 3.1.1): a task for it runs only while one is in flight."""
        self._retries = True
        if self.state.in_flight and self._retrying is None:
            self._retrying = asyncio.create_task(self._retry())

    def stop_retrying(self) -> None:
        """The connection ends: send nothing again on it."""
        self._retries = False
        if self._retrying is not None:
            self._retrying.cancel()
            self._retrying = None

    async def _retry(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.state.in_flight:
                oldest = min(f.sent_at for f in self.state.in_flight.values())
                await asyncio.sleep(max(oldest + RETRY_S - loop.time(), 0.0))
                for packet_id, flight in list(self.state.in_flight.items()):
                    if loop.time() - flight.sent_at < RETRY_S:
                        continue
                    if not self._queue.is_pending(flight.command):  # acknowledged elsewhere
                        del self.state.in_flight[packet_id]
                    elif not self._publish(flight.command, 1, packet_id):
                        return  # the connection is closing
        finally:
            if self._retrying is asyncio.current_task():
                self._retrying = None

    def _publish(self, command: Command, qos: int, packet_id: int | None) -> bool:
        dup = qos == 1 and (command.sent_count > 0 or packet_id in self.state.in_flight)
        topic = command_topic(self.device, command.name)
        if not self._send(Publish(topic, command.payload, qos, dup=dup, packet_id=packet_id)):
            return False
        log.info("unit %s: command %d (%s) sent", self.device, command.id, command.name)
        self._queue.sent(command)
        if packet_id is not None:
            self.state.in_flight[packet_id] = InFlight(command, _now())
            if self._retries and self._retrying is None:
                self._retrying = asyncio.create_task(self._retry())
        return True

    def _packet_id(self) -> int:
        """A packet id no PUBLISH in flight has (the receive maximum leaves one free)."""
        state = self.state
        while True:
            state.last_packet_id = state.last_packet_id % _MAX_PACKET_ID + 1
            if state.last_packet_id not in state.in_flight:
                return state.last_packet_id


def _now() -> float:
    return asyncio.get_running_loop().time()


NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5: a Session Expiry Interval that never ends


def session_expiry(connect: Connect) -> int | None:
    """How long the session outlives the connection, in seconds (None: always)."""
    if connect.protocol_level < MQTT5:
        return 0 if connect.clean_start else None
    asked = connect.properties.session_expiry_interval or 0
    return None if asked == NEVER_EXPIRES else asked
