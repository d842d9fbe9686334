"""A unit's connection to a device endpoint over MQTT 5 and TLS, as a battery unit makes it.

At each wake the unit connects with its own certificate, publishes at QoS 1, waits for
every PUBACK and disconnects. A unit given a ``UnitMemory`` (kenshin.sim.memory) also
answers commands: it subscribes to ``cmd/kenshin/{id}/#`` at QoS 1 and waits for the
SUBACK before it publishes, so that what the endpoint sends on subscribing (the pending
commands of ``kenshin serve``, a broker's retained command) is in before the PUBACKs of
its messages; then it answers each command in order of arrival, and acknowledges it
once every message of its answer is acknowledged. A command left unacknowledged (its
answer was not) comes again at a later wake. The unit keeps the reporting offset its
CONNACK gives (``offset_s``; kenshin.domain.spread). Its TLS context is kept between
wakes so that the unit resumes its last TLS session instead of making a full handshake.
A unit's files are the ones ``kenshin devices add --out`` writes: ``<id>.pem``,
``<id>.key`` and ``ca.pem``. ``PahoUnits`` are the units of such a folder, as the port
``kenshin.ports.Units``.

Errors say what to do: UnitError when the unit cannot be used at all (files missing or
unusable, an endpoint that its ``ca.pem`` does not trust), WakeFailed when one wake
failed and the next one may work (endpoint unreachable, unit refused, no CONNACK).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from kenshin.domain.commands import command_topic
from kenshin.domain.spread import OFFSET_PROPERTY
from kenshin.errors import UnitError, WakeFailed
from kenshin.sim.memory import UnitMemory

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"  # as 'kenshin devices add --out' writes it, beside <id>.pem and <id>.key
ACK_TIMEOUT_S = 10.0
NO_MATCHING_SUBSCRIBERS = 0x10  # a PUBACK reason: success for the broker, not stored
IN_FLIGHT = 50  # unacknowledged PUBLISHes per connection; kenshin's endpoint takes 100


class UnitTls(ssl.SSLContext):
    """A unit's client TLS context. It resumes the unit's last TLS session, as a battery
    unit does to spare itself a full handshake, and closes every socket it made, also one
    whose handshake failed (which the MQTT client never had)."""

    sockets: list[ssl.SSLSocket]
    session: ssl.SSLSession | None

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # noqa: ANN401
        """Wrap as usual, resuming the last session, and remember the socket."""
        kwargs.setdefault("session", self.session)
        wrapped = super().wrap_socket(*args, **kwargs)
        self.sockets.append(wrapped)
        return wrapped

    def remember(self) -> None:
        """Keep the session of the connection just accepted, to resume it next time."""
        self.session = self.sockets[-1].session or self.session

    def close(self) -> None:
        """Close every socket made."""
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


class PahoUnit:
    """One wake of unit ``device`` at the endpoint ``host``:``port``: a TLS connection made
    with its files in ``certs``, driven by the calling thread. ``tls``, the context of an
    earlier wake, resumes that wake's session; ``tls`` is then the context to keep. With
    ``memory``, the unit answers its commands from there."""

    def __init__(
        self,
        host: str,
        port: int,
        certs: Path,
        device: str,
        tls: UnitTls | None = None,
        memory: UnitMemory | None = None,
    ) -> None:
        self._host, self._port, self._certs = host, port, certs
        self.device = device
        self.tls = tls
        self._memory = memory
        self.published = 0
        self.connected = 0
        self._connack: ReasonCode | None = None
        self.offset_s: int | None = None  # when to report in the half hour, as the CONNACK said
        self._suback: list[ReasonCode] | None = None
        self._acks: dict[int, bool] = {}  # packet id -> acknowledged as stored
        self._commands: list[mqtt.MQTTMessage] = []  # received, not answered yet
        self._error = ""  # what the client last logged as going wrong
        self.stalled = ""  # why what was awaited did not come

    def probe(self) -> None:
        """Connect and disconnect; UnitError saying why the endpoint cannot be used."""
        try:
            with self._session():
                pass
        except WakeFailed as exc:
            raise UnitError(str(exc)) from exc

    def publish(self, payloads: list[str]) -> list[int]:
        """Publish each payload at QoS 1; the indices of those not acknowledged in time.
        With a memory, subscribe to the unit's commands first and answer them after."""
        with self._session() as client:
            if self._memory is not None:
                self._subscribe(client)
            left = self._send(client, payloads)
            if self._memory is not None and not left:
                self._answer(client, self._memory)
        return left

    def _send(self, client: mqtt.Client, payloads: list[str]) -> list[int]:
        """Publish at QoS 1 and wait for the PUBACKs; the indices of those not acknowledged."""
        topic = f"dt/kenshin/{self.device}/readings"
        before = len(self._acks)
        infos = [client.publish(topic, payload, qos=1) for payload in payloads]
        self.published += len(infos)
        self._pump(client, lambda: len(self._acks) - before >= len(infos))
        return [i for i, info in enumerate(infos) if not self._acks.get(info.mid, False)]

    def _subscribe(self, client: mqtt.Client) -> None:
        """Subscribe to the unit's commands at QoS 1 and wait for the SUBACK."""
        where = f"the endpoint at {self._host} port {self._port}"
        client.subscribe(command_topic(self.device, "#"), qos=1)
        if not self._pump(client, lambda: self._suback is not None) or self._suback is None:
            raise WakeFailed(f"{where} did not answer the subscription of {self.device}")
        refused = [str(reason) for reason in self._suback if reason.is_failure]
        if refused:
            raise UnitError(
                f"{where} refused unit {self.device} its commands"
                f" ({command_topic(self.device, '#')}: {', '.join(refused)}): run without"
                " --answer-commands, or let the units read their commands (kenshin serve,"
                " or a broker configured by 'kenshin broker-config')"
            )

    def _answer(self, client: mqtt.Client, memory: UnitMemory) -> None:
        """Answer the commands received, in order; acknowledge each once its answer is."""
        while self._commands:
            command = self._commands[0]
            payload = bytes(command.payload)
            resend = memory.answer(self.device, payload)
            if resend:
                left = self._send(client, resend)
                if left:  # unacknowledged, the command comes again at a later wake
                    log.warning(
                        "unit %s: %d of the %d messages answering a command not acknowledged",
                        self.device,
                        len(left),
                        len(resend),
                    )
                    return
            if resend is not None:
                memory.remember(self.device, payload, len(resend))
            client.ack(command.mid, command.qos)
            self._commands.pop(0)

    @contextmanager
    def _session(self) -> Iterator[mqtt.Client]:
        if self.tls is None:
            cert, key = unit_files(self._certs, self.device)
            self.tls = _context(self._certs / CA_FILE, cert, key)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.device,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=self._memory is not None,
        )
        client.tls_set_context(self.tls)
        client.connect_timeout = ACK_TIMEOUT_S
        client.max_inflight_messages_set(IN_FLIGHT)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_log = self._on_log
        try:
            self._connect(client)
            yield client
            client.disconnect()
        finally:
            self.tls.close()

    def _connect(self, client: mqtt.Client) -> None:
        where, device = f"{self._host} port {self._port}", self.device
        try:
            client.connect(self._host, self._port, keepalive=60)
        except ssl.SSLCertVerificationError as exc:
            raise UnitError(
                f"the endpoint at {where} is not one {self._certs / CA_FILE} trusts"
                f" ({exc.verify_message}): use the ca.pem of the endpoint's data folder and a"
                " host name its certificate names"
            ) from exc
        except ssl.SSLError as exc:
            raise WakeFailed(
                f"the endpoint at {where} refused the certificate of {device} ({exc.reason})"
            ) from exc
        except OSError as exc:
            raise WakeFailed(
                f"cannot reach the endpoint at {where} ({exc.strerror or exc}):"
                " is 'kenshin serve' running there, on that port?"
            ) from exc
        if not self._pump(client, lambda: self._connack is not None) or self._connack is None:
            said = f" ({self._error})" if self._error else ""
            raise WakeFailed(
                f"the endpoint at {where} closed the connection of {device} before accepting"
                f" it{said}: is its certificate revoked, or issued by another data folder?"
            )
        if self._connack.is_failure:
            raise WakeFailed(f"the endpoint at {where} refused unit {device}: {self._connack}")
        self.connected = 1
        if self.tls is not None:
            self.tls.remember()

    def _pump(self, client: mqtt.Client, done: Callable[[], bool]) -> bool:
        """Run the client's network loop until ``done`` or the timeout; whether done
        (if not, ``stalled`` says why)."""
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stalled = f"no answer in {ACK_TIMEOUT_S:g} s"
                return done()
            if client.loop(min(remaining, 1.0)) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.stalled = "the connection was lost" + (
                    f" ({self._error})" if self._error else ""
                )
                return done()
        return True

    def _on_connect(self, *args: object) -> None:  # client, userdata, flags, reason, props
        reason, props = args[3], args[4]
        self._connack = reason if isinstance(reason, ReasonCode) else None
        said = dict(getattr(props, "UserProperty", ()))
        if said.get(OFFSET_PROPERTY, "").isdigit():
            self.offset_s = int(said[OFFSET_PROPERTY])

    def _on_publish(self, *args: object) -> None:  # client, userdata, mid, reason, props
        mid, reason = args[2], args[3]
        if isinstance(mid, int) and isinstance(reason, ReasonCode):
            # "No matching subscribers": a broker took it but nobody will store it.
            self._acks[mid] = not reason.is_failure and reason.value != NO_MATCHING_SUBSCRIBERS

    def _on_subscribe(self, *args: object) -> None:  # client, userdata, mid, reasons, props
        reasons = args[3]
        if isinstance(reasons, list):
            self._suback = [r for r in reasons if isinstance(r, ReasonCode)]

    def _on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._commands.append(message)

    def _on_log(self, _client: object, _userdata: object, level: int, text: str) -> None:
        if level in (mqtt.MQTT_LOG_ERR, mqtt.MQTT_LOG_WARNING):
            self._error = text


class PahoUnits:
    """The units whose files are in ``certs``, publishing to the endpoint ``host``:``port``;
    with ``memory``, answering their commands from there."""

    def __init__(self, host: str, port: int, certs: Path, memory: UnitMemory | None = None) -> None:
        self._host, self._port, self._certs = host, port, certs
        self._memory = memory

    def check(self, device: str) -> None:
        """UnitError, saying how to make them, if the unit's files are missing."""
        unit_files(self._certs, device)

    def open(self, device: str, tls: UnitTls | None) -> PahoUnit:
        """One wake of ``device``, resuming ``tls`` of an earlier wake."""
        return PahoUnit(self._host, self._port, self._certs, device, tls, self._memory)


def unit_files(certs: Path, device: str) -> tuple[Path, Path]:
    """The unit's certificate and key in ``certs``; UnitError saying how to make them."""
    cert, key = certs / f"{device}.pem", certs / f"{device}.key"
    for path in (certs / CA_FILE, cert, key):
        if not path.is_file():
            raise UnitError(
                f"{path.name} is missing in {certs}: unit {device} needs {cert.name},"
                f" {key.name} and {CA_FILE} there, which 'kenshin devices add {device}"
                f" --customer CUSTOMER --out {certs}' writes (or --file with the devices file"
                " of the simulation, for the whole fleet)"
            )
    return cert, key


def _context(ca: Path, cert: Path, key: Path) -> UnitTls:
    context = UnitTls(ssl.PROTOCOL_TLS_CLIENT)  # verifies the endpoint and its name
    context.sockets, context.session = [], None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=ca)
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise UnitError(
            f"{cert.name}, {key.name} and {ca.name} in {ca.parent} are not a unit's"
            f" certificate, its key and a CA certificate ({exc.reason})"
        ) from exc
    return context
