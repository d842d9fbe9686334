"""A worker's link to an MQTT 5 broker (paho): shared subscriptions to the units' topics
at QoS 1 in a persistent session, each message acknowledged only when the worker says so.

The session outlives the connection (``session_expiry_s``): a worker that stops, or is
killed, finds the messages it had not acknowledged again when it comes back under the
same client id, and on Mosquitto also those the broker kept for it meanwhile. paho
reconnects by itself (clean start 0, so the session stays); every connection has a
number, and a message is acknowledged only on the connection it came on: once that
connection is gone the broker sends it again, with DUP set. ``redeliver`` drops the
connection on purpose, for a batch that could not be stored.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from kenshin.domain.cluster import Delivery
from kenshin.errors import KenshinError

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 10
PUBLISH_TIMEOUT_S = 10.0
# The units' topics a worker reads, under $share/<share>/.
UNIT_TOPICS = ("dt/kenshin/+/readings", "dt/kenshin/+/echonet", "dt/kenshin/+/status")
# How many messages the broker holds (Mosquitto's $SYS, every sys_interval): its backlog.
HELD_TOPIC = "$SYS/broker/store/messages/count"


class BrokerError(KenshinError):
    """The broker cannot be used: its files, its address, or it refused the worker."""


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and who the worker is to it."""

    host: str
    port: int
    certificate: Path
    key: Path
    ca: Path
    client_id: str
    share: str = "kenshin"
    session_expiry_s: int = 7 * 86400
    receive_maximum: int = 2000


class BrokerLink:
    """The worker's connection to the broker; ``on_delivery`` is called in paho's thread."""

    def __init__(
        self,
        settings: BrokerSettings,
        on_delivery: Callable[[Delivery], None],
        *,
        retiring: bool = False,
    ) -> None:
        self._settings = settings
        self._retiring = retiring  # leaving the shares for good: unsubscribe, drain
        self._on_delivery = on_delivery
        self._lock = threading.Lock()
        self._generation = 0  # the connection's number; 0 while none is up
        self._connected_at = 0  # when the connection was made (epoch s)
        self.connections = 0  # made so far
        self._refused: str | None = None
        self._subscribed = False
        self._held_mid: int | None = None
        self.held: int | None = None  # messages the broker holds, as it last said
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        """Whether a connection is up and subscribed."""
        return self._generation > 0 and self._subscribed

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe and keep the connection up (in paho's thread); BrokerError
        when the broker cannot be reached or refuses the worker within ``timeout_s``."""
        s = self._settings
        where = f"the broker at {s.host} port {s.port}"
        try:
            self._client.connect(s.host, s.port, KEEPALIVE_S, **self._connect_options())  # type: ignore[arg-type]
        except ssl.SSLCertVerificationError as exc:
            raise BrokerError(
                f"{where} is not one {s.ca} trusts ({exc.verify_message}): give broker.ca"
                " the CA that issued the broker's certificate and a host name it names"
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            raise BrokerError(f"cannot reach {where}: {exc}") from exc
        self._client.loop_start()
        deadline = time.monotonic() + timeout_s
        while not self.connected and self._refused is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.connected:
            self._client.disconnect()
            self._client.loop_stop()
            why = self._refused or f"no answer in {timeout_s:g} s"
            raise BrokerError(f"{where} did not take the worker {s.client_id!r}: {why}")

    def _connect_options(self) -> dict[str, object]:
        """Clean start 0 (the session stays), its expiry, and how many messages the
        broker may send before the worker acknowledges any."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.session_expiry_s
        properties.ReceiveMaximum = self._settings.receive_maximum
        return {"clean_start": False, "properties": properties}

    def ack(self, tickets: Sequence[tuple[int, int]]) -> None:
        """Acknowledge the messages of ``tickets`` (in the order they came), those of the
        connection still up; the others will come again."""
        with self._lock:
            generation = self._generation
        for ticket_generation, mid in tickets:
            if ticket_generation != generation or generation == 0:
                continue  # its connection is gone: the broker sends it again
            self._client.ack(mid, 1)

    def redeliver(self) -> None:
        """Drop the connection and connect again, so that the broker sends every message
        not acknowledged again (for a batch that could not be stored). Not from paho's
        thread."""
        with self._lock:
            self._generation = 0
        self._client.disconnect()
        self._client.loop_stop()
        s = self._settings
        self._client.connect_async(s.host, s.port, KEEPALIVE_S, **self._connect_options())  # type: ignore[arg-type]
        self._client.loop_start()  # connects, and again until it is up

    def publish(self, topic: str, payload: bytes, *, retain: bool, expiry_s: int) -> bool:
        """Publish at QoS 1 (not from paho's thread); whether the broker took it in time."""
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = expiry_s
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def kick(self, client_id: str, timeout_s: float = 10.0) -> bool:
        """Connect as ``client_id`` with a clean start and leave: the broker closes the
        connection that client id has (a revoked unit's, which a CRL does not end) and
        drops its session. Whether the broker took the connection. Not from paho's thread."""
        done: list[ReasonCode] = []
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        client.tls_set_context(_tls(self._settings))
        client.on_connect = lambda _c, _u, _f, reason, _p: done.append(reason)
        s = self._settings
        try:
            client.connect(s.host, s.port, KEEPALIVE_S, clean_start=True)
        except (ssl.SSLError, OSError) as exc:
            log.warning("cannot reach the broker to close %s's connection: %s", client_id, exc)
            return False
        deadline = time.monotonic() + timeout_s
        while not done and time.monotonic() < deadline:
            client.loop(0.1)
        client.disconnect()
        client.loop(0.1)
        return bool(done) and not done[0].is_failure

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect and stop paho's thread; the session stays at the broker unless
        ``end_session`` (a worker retired for good)."""
        with self._lock:
            self._generation = 0
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 0
        self._client.disconnect(properties=properties)
        self._client.loop_stop()

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.tls_set_context(_tls(s))
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            log.error("the broker refused worker %s: %s", self._settings.client_id, reason)
            return
        # Numbered now, not at SUBACK: a resumed session's messages come right after CONNACK.
        with self._lock:
            self.connections += 1
            self._generation = self.connections
            self._connected_at = int(time.time())
        share = self._settings.share
        filters = [f"$share/{share}/{topic}" for topic in UNIT_TOPICS]
        if self._retiring:  # no more of the units' messages; what the session holds comes
            client.unsubscribe(filters)
            return
        _, self._held_mid = client.subscribe(HELD_TOPIC, qos=0)  # refused: it is not said
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in filters])

    def _on_unsubscribe(self, *_args: object) -> None:
        self._subscribed = True  # taken out of the shares: ready to drain the session
        log.info("out of the shared subscriptions (connection %d)", self.connections)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        if mid == self._held_mid:
            return  # the broker's backlog, where it tells it: nothing depends on it
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            self._refused = f"subscription refused ({', '.join(refused)})"
            log.error("the broker refused the worker's subscriptions: %s", refused)
            return
        self._subscribed = True
        log.info("connected to the broker (connection %d)", self.connections)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        with self._lock:
            self._generation = 0
            self._subscribed = False
        log.warning("the broker connection is down (%s); connecting again", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == HELD_TOPIC:
            with contextlib.suppress(ValueError):
                self.held = int(message.payload)
            return
        with self._lock:
            generation, connected_at = self._generation, self._connected_at
        if message.qos == 0:  # nothing to acknowledge
            generation = 0
        ticket = (generation, message.mid)
        received = int(time.time())
        self._on_delivery(
            Delivery(message.topic, bytes(message.payload), received, ticket, connected_at)
        )


def _tls(settings: BrokerSettings) -> ssl.SSLContext:
    """TLS 1.2 or newer, the broker checked against ``ca``, the worker's certificate."""
    files = {"certificate": settings.certificate, "key": settings.key, "ca": settings.ca}
    for key, path in files.items():
        if not path.is_file():
            raise BrokerError(
                f"broker.{key}: {path} is missing; 'kenshin broker-config mosquitto --out DIR'"
                " writes the workers' worker.pem and worker.key (the CA: the data folder's"
                " pki/ca.pem)"
            )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(settings.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.certificate, settings.key)
    except ssl.SSLError as exc:
        raise BrokerError(
            f"broker.certificate and broker.key ({settings.certificate}, {settings.key})"
            f" are not a certificate and its key: {exc.reason}"
        ) from exc
    return context
