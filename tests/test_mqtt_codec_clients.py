"""MQTT codec against real clients: paho-mqtt and mosquitto_pub/mosquitto_sub talk to a
one-connection server on 127.0.0.1 that reads with PacketReader and answers with encode."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import replace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties
from paho.mqtt.subscribeoptions import SubscribeOptions

from kenshin.entrypoints.mqtt.codec import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PacketReader,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    encode,
    topic_matches,
)

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
READINGS = bytes(range(256)) * 3  # every byte value, zeros included
COMMAND_TOPIC = "meters/0001/commands/relay"
COMMAND = b"\x00\x01open\xff"


class OneConnectionServer:
    """Accepts one TCP connection, records what it decodes and answers like a broker."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self.port: int = self._listener.getsockname()[1]
        self.received: list[Packet] = []
        self.pinged = threading.Event()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
            with connection:
                connection.settimeout(TIMEOUT)
                self._talk(connection)
        except Exception as exc:  # reported by join()
            self._errors.append(exc)
        finally:
            self._listener.close()

    def _talk(self, connection: socket.socket) -> None:
        reader = PacketReader(64 * 1024, server_side=True)
        while data := connection.recv(4096):
            for packet in reader.feed(data):
                self.received.append(packet)
                if isinstance(packet, Disconnect):
                    return  # as a server does: the client leaves
                level = reader.protocol_level
                assert level is not None
                for reply in self._replies(packet, level):
                    connection.sendall(encode(reply, level))

    def _replies(self, packet: Packet, level: int) -> list[Packet]:
        match packet:
            case Connect():  # at level 5 a Server Keep Alive of 1 s makes the client ping soon
                props = Properties(server_keep_alive=1, maximum_qos=1) if level == 5 else None
                return [ConnAck(properties=props or Properties())]
            case Publish(qos=1, packet_id=int(packet_id)):
                return [PubAck(packet_id)]
            case Subscribe(packet_id=packet_id, subscriptions=subscriptions):
                command = Publish(COMMAND_TOPIC, COMMAND, qos=1, packet_id=7)
                return [SubAck(packet_id, tuple(s.qos for s in subscriptions)), command]
            case Unsubscribe(packet_id=packet_id, topic_filters=filters):
                return [UnsubAck(packet_id, (0,) * len(filters) if level == 5 else ())]
            case PingReq():
                self.pinged.set()
                return [PingResp()]
        return []

    def join(self) -> list[Packet]:
        """Wait for the client to hang up; the packets it sent, in order."""
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the client did not hang up"
        if self._errors:
            raise self._errors[0]
        return self.received


class PahoEvents:
    """What paho's callbacks reported, each with an Event to wait on."""

    def __init__(self) -> None:
        self.log: dict[str, list[Any]] = {}
        self._events: dict[str, threading.Event] = {}

    def record(self, name: str, *values: Any) -> None:
        """Remember a callback's values and wake whoever waits for it."""
        self.log.setdefault(name, []).append(values)
        self._events.setdefault(name, threading.Event()).set()

    def wait(self, name: str) -> list[Any]:
        """Wait until callback ``name`` has run; all its calls so far."""
        assert self._events.setdefault(name, threading.Event()).wait(TIMEOUT), name
        return self.log[name]


def paho_client(level: int, events: PahoEvents) -> mqtt.Client:
    """A paho client with a user, a will, and callbacks that report into ``events``."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="meter-0001",
        clean_session=None if level == 5 else True,
        protocol=mqtt.MQTTv5 if level == 5 else mqtt.MQTTv311,
    )
    client.username_pw_set("meter", "secret")
    client.will_set("meters/0001/status", b"offline", qos=1, retain=True)
    client.on_connect = lambda _c, _u, _f, code, props: events.record("connect", code, props)
    client.on_publish = lambda _c, _u, mid, code, _p: events.record("publish", mid, code)
    client.on_subscribe = lambda _c, _u, mid, codes, _p: events.record("subscribe", mid, codes)
    client.on_unsubscribe = lambda _c, _u, mid, codes, _p: events.record("unsubscribe", mid)
    client.on_message = lambda _c, _u, message: events.record(
        "message", message.topic, message.payload, message.qos
    )
    return client


def paho_connect_properties() -> PahoProperties:
    """The v5 CONNECT properties a meter unit might send."""
    props = PahoProperties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 8
    props.MaximumPacketSize = 65536
    props.TopicAliasMaximum = 4
    props.RequestProblemInformation = 0
    props.UserProperty = ("firmware", "1.2.3")
    return props


def paho_session(level: int, server: OneConnectionServer, events: PahoEvents) -> int:
    """Connect, publish at QoS 0 and 1, subscribe, take a command, unsubscribe, ping, leave.

    Returns the packet id of the QoS 1 PUBLISH.
    """
    client = paho_client(level, events)
    v5 = level == 5
    publish_props = PahoProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    publish_props.MessageExpiryInterval = 600
    client.connect(
        "127.0.0.1", server.port, keepalive=60 if v5 else 1,
        properties=paho_connect_properties() if v5 else None,
    )  # fmt: skip
    client.loop_start()
    try:
        assert events.wait("connect")[0][0] == 0
        props = publish_props if v5 else None
        at_most_once = client.publish("meters/0001/readings", b"", qos=0, properties=props)
        at_least_once = client.publish("meters/0001/readings", READINGS, 1, properties=props)
        at_least_once.wait_for_publish(TIMEOUT)
        at_most_once.wait_for_publish(TIMEOUT)
        if v5:
            options = SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True)
            client.subscribe("meters/0001/commands/#", options=options)
        else:
            client.subscribe("meters/0001/commands/#", qos=1)
        events.wait("subscribe")
        events.wait("message")
        client.unsubscribe("meters/0001/commands/#")
        events.wait("unsubscribe")
        assert server.pinged.wait(TIMEOUT)  # only after a keep-alive second without traffic
    finally:
        client.disconnect()
        client.loop_stop()
    return at_least_once.mid


@pytest.mark.parametrize("level", [4, 5])
def test_paho_connects_publishes_subscribes_and_pings(level: int) -> None:
    server, events = OneConnectionServer(), PahoEvents()
    qos1_id = paho_session(level, server, events)
    received = server.join()

    v5 = level == 5
    connect_props = Properties(
        session_expiry_interval=3600, receive_maximum=8, maximum_packet_size=65536,
        topic_alias_maximum=4, request_problem_information=False,
        user_properties=(("firmware", "1.2.3"),),
    )  # fmt: skip
    assert received[0] == Connect(
        level, "meter-0001", clean_start=True, keep_alive=60 if v5 else 1,
        username="meter", password=b"secret",
        will=Will("meters/0001/status", b"offline", qos=1, retain=True),
        properties=connect_props if v5 else Properties(),
    )  # fmt: skip
    publish_props = Properties(message_expiry_interval=600) if v5 else Properties()
    publishes = [p for p in received if isinstance(p, Publish)]
    assert publishes == [
        Publish("meters/0001/readings", b"", qos=0, properties=publish_props),
        Publish("meters/0001/readings", READINGS, 1, packet_id=qos1_id, properties=publish_props),
    ]
    assert sorted(code for _, code in events.log["publish"]) == [0, 0]  # paho: published

    subscribe = next(p for p in received if isinstance(p, Subscribe))
    assert subscribe.subscriptions == (Subscription("meters/0001/commands/#", 1, v5, v5),)
    assert events.log["subscribe"][0][1] == [1]  # paho read the granted QoS from our SUBACK
    assert events.log["message"] == [(COMMAND_TOPIC, COMMAND, 1)]
    assert PubAck(7) in received  # paho acknowledged our QoS 1 PUBLISH
    assert [p.topic_filters for p in received if isinstance(p, Unsubscribe)] == [
        ("meters/0001/commands/#",)
    ]
    assert PingReq() in received
    assert received[-1] == Disconnect()
    if v5:  # paho read our CONNACK properties
        assert events.log["connect"][0][1].ServerKeepAlive == 1


MOSQUITTO = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None,
    reason="mosquitto_pub/mosquitto_sub (Debian package mosquitto-clients) are not installed",
)
VERSIONS = [("mqttv311", 4), ("mqttv5", 5)]


def mosquitto(tool: str, version: str, port: int, *args: str, stdin: bytes = b"") -> str:
    """Run a mosquitto client against the test server; its standard output."""
    command = [tool, "-h", "127.0.0.1", "-p", str(port), "-V", version, "-k", "30", *args]
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def own_receive_maximum(expected: Properties, connect: Connect) -> Properties:
    """``expected`` plus the Receive Maximum libmosquitto sends at level 5 on its own."""
    if connect.protocol_level == 4:
        return expected
    assert (connect.properties.receive_maximum or 0) >= 1
    return replace(expected, receive_maximum=connect.properties.receive_maximum)


@MOSQUITTO
@pytest.mark.parametrize(("version", "level"), VERSIONS)
@pytest.mark.parametrize("qos", [0, 1])
def test_mosquitto_pub_publishes(version: str, level: int, qos: int) -> None:
    server = OneConnectionServer()
    v5_args = ["-D", "connect", "session-expiry-interval", "120"]
    v5_args += ["-D", "publish", "user-property", "unit", "kWh"]
    args = ["-i", "meter-0002", "-q", str(qos), "-t", "meters/0002/readings", "-s"]
    mosquitto("mosquitto_pub", version, server.port, *args, *(v5_args if level == 5 else []),
              stdin=READINGS)  # fmt: skip
    received = server.join()

    v5 = level == 5
    connect = received[0]
    assert isinstance(connect, Connect)
    assert connect == Connect(level, "meter-0002", True, 30, properties=connect.properties)
    assert connect.properties == own_receive_maximum(
        Properties(session_expiry_interval=120) if v5 else Properties(), connect
    )
    publish_props = Properties(user_properties=(("unit", "kWh"),)) if v5 else Properties()
    publish = received[1]
    assert isinstance(publish, Publish)
    assert publish.packet_id != 0
    assert publish == Publish(
        "meters/0002/readings", READINGS, qos,
        packet_id=publish.packet_id if qos else None, properties=publish_props,
    )  # fmt: skip
    assert received[-1] == Disconnect()


@MOSQUITTO
@pytest.mark.parametrize(("version", "level"), VERSIONS)
def test_mosquitto_sub_subscribes_and_receives(version: str, level: int) -> None:
    server = OneConnectionServer()
    started = time.monotonic()
    args = ["-i", "meter-0003", "-q", "1", "-t", "meters/+/commands/#", "-C", "1", "-F", "%t %x"]
    output = mosquitto("mosquitto_sub", version, server.port, *args)
    received = server.join()

    assert output.split() == [COMMAND_TOPIC, COMMAND.hex()]
    connect = received[0]
    assert isinstance(connect, Connect)
    assert connect == Connect(level, "meter-0003", True, 30, properties=connect.properties)
    assert connect.properties == own_receive_maximum(Properties(), connect)
    subscribe = received[1]
    assert isinstance(subscribe, Subscribe)
    assert subscribe.subscriptions == (Subscription("meters/+/commands/#", 1),)
    assert topic_matches(subscribe.subscriptions[0].topic_filter, COMMAND_TOPIC)
    assert time.monotonic() - started < TIMEOUT
