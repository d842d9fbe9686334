"""Commands to units: queued in the store, delivered at QoS 1, acknowledged by the PUBACK."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from conftest import kenshin
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.memory_registry import MemoryCommands
from kenshin.adapters.pki import PKI_FOLDER, server_ssl_context
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.commands import resend_payload
from kenshin.domain.devices import Command
from kenshin.domain.model import Customer, Device
from kenshin.entrypoints.mqtt import commands
from kenshin.entrypoints.mqtt.codec import (
    ConnAck,
    Connect,
    Disconnect,
    PacketReader,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    encode,
)
from kenshin.entrypoints.mqtt.commands import CommandQueue, CommandSender
from kenshin.entrypoints.mqtt.server import DeviceEndpoint, EndpointSettings
from kenshin.services.batching import CommitQueue
from kenshin.services.ingest import Ingest

from .conftest import Site
from .test_publish import client

pytestmark = pytest.mark.integration

START, END = 1_795_651_200, 1_795_672_800  # 2026-11-26 00:00 and 06:00 UTC
TOPIC = "cmd/kenshin/U-1/resend"
WAIT_S = 10.0  # how long a test waits for what must come: only a failing test waits it out


# The day `kenshin devices resend` asks for: a recent one, as a unit holds its readings
# of the last 100 days only.
DAY = datetime.now(UTC).date() - timedelta(days=3)


def resend_json(command_id: int, day: date = date(2026, 11, 26)) -> bytes:
    """The payload of a resend of ``day`` 00:00 to 06:00 UTC."""
    return b'{"v":1,"command":"resend","id":%d,"from":"%sT00:00:00Z","to":"%sT06:00:00Z"}' % (
        command_id,
        day.isoformat().encode(),
        day.isoformat().encode(),
    )


def _in(zone: str, hour: int) -> str:
    """``DAY`` at ``hour`` UTC, as the local time of ``zone`` (YYYY-MM-DDTHH:MM)."""
    moment = datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=UTC)
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint looks for new commands every 0.1 s, not every second: what the tests
    wait for comes sooner; nothing they check depends on how often it looks."""
    monkeypatch.setattr(commands, "COMMAND_POLL_S", 0.1)


@pytest.fixture
def cli_store(site: Site) -> Iterator[SqliteStore]:
    """The site's database on a connection of its own, as ``kenshin devices resend`` has."""
    store = SqliteStore(site.folder / "kenshin.db")
    yield store
    store.close()


def queue(store: SqliteStore, device: str = "U-1") -> int:
    """Queue a resend of START..END for ``device``; its id."""
    return store.commands.add_command(
        device, "resend", lambda i: resend_payload(i, START, END), int(time.time())
    )


class Unit:
    """A raw MQTT connection through the codec, as a unit's firmware has one."""

    def __init__(
        self,
        site: Site,
        level: int,
        *,
        clean: bool = True,
        device: str = "U-1",
        expiry: int | None = None,
    ) -> None:
        self.level = level
        self.conn = site.tls(device)
        self._reader = PacketReader(1 << 20, server_side=False, protocol_level=level)
        self._received: list[object] = []
        # An MQTT 5 unit that wants its session kept asks for it (Session Expiry Interval).
        if expiry is None and level == 5 and not clean:
            expiry = 3600
        kept = Properties(session_expiry_interval=expiry)
        self.send(Connect(level, device, clean_start=clean, keep_alive=60, properties=kept))
        [accepted] = self.receive(1)
        assert isinstance(accepted, ConnAck)
        assert accepted.reason_code == 0
        self.session_present = accepted.session_present

    def send(self, *packets: object) -> None:
        for packet in packets:
            self.conn.sendall(encode(packet, self.level))  # type: ignore[arg-type]

    def receive(self, expect: int, within: float = WAIT_S) -> list[object]:
        """Up to ``expect`` packets the endpoint sends within ``within`` seconds: the
        first ``expect`` as soon as they have come."""
        deadline = time.monotonic() + within
        try:
            while len(self._received) < expect and (left := deadline - time.monotonic()) > 0:
                self.conn.settimeout(left)
                data = self.conn.recv(65536)
                if not data:
                    break
                self._received += self._reader.feed(data)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            pass
        found, self._received = self._received[:expect], self._received[expect:]
        return found

    def subscribe(self, *filters: str, qos: int = 1) -> None:
        self.send(Subscribe(1, tuple(Subscription(f, qos) for f in filters)))

    def close(self) -> None:
        self.conn.close()


def acknowledged(site: Site, command_id: int, sent_count: int) -> None:
    """Wait until the store has the command acknowledged after ``sent_count`` sendings."""
    deadline = time.monotonic() + WAIT_S
    while (command := site.store.commands.get_command(command_id)) is None or (
        command.pending or command.sent_count != sent_count
    ):
        assert time.monotonic() < deadline, f"not acknowledged after {sent_count}: {command}"
        time.sleep(0.05)


def stored_acknowledged(site: Site, command_id: int) -> Command:
    """The command once the store says it is acknowledged."""
    deadline = time.monotonic() + WAIT_S
    while (command := site.store.commands.get_command(command_id)) is None or command.pending:
        assert time.monotonic() < deadline, f"command {command_id} not acknowledged: {command}"
        time.sleep(0.05)
    return command


def read_by_endpoint(site: Site, cli_store: SqliteStore) -> None:
    """Wait until the endpoint has read every command queued so far: another unit gets
    one queued after them (each poll reads every command above the last it read)."""
    site.unit("U-9")
    witness = Unit(site, 5, device="U-9")
    witness.subscribe("cmd/kenshin/U-9/#")
    assert witness.receive(1) == [SubAck(1, (1,))]
    command_id = queue(cli_store, "U-9")
    payload = resend_json(command_id)
    assert witness.receive(1) == [Publish("cmd/kenshin/U-9/resend", payload, 1, packet_id=1)]
    witness.close()


@pytest.mark.parametrize("protocol", [MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311])
def test_a_paho_unit_gets_a_resend_queued_while_it_is_connected_and_its_puback_counts(
    site: Site, cli_store: SqliteStore, protocol: MQTTProtocolVersion
) -> None:
    site.unit("U-1")
    subscribed, got = threading.Event(), threading.Event()
    messages: list[mqtt.MQTTMessage] = []
    c = client(site, "U-1", protocol)

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        messages.append(message)
        got.set()

    c.on_subscribe = lambda *_: subscribed.set()
    c.on_message = on_message
    c.connect("localhost", site.port)
    c.loop_start()
    try:
        c.subscribe("cmd/kenshin/U-1/#", qos=1)
        assert subscribed.wait(WAIT_S)
        command_id = queue(cli_store)
        assert got.wait(WAIT_S)  # the endpoint polls the store every second
        acknowledged(site, command_id, sent_count=1)
    finally:
        c.disconnect()
        c.loop_stop()
    [message] = messages
    assert (message.topic, message.qos, message.payload) == (TOPIC, 1, resend_json(command_id))
    assert json.loads(message.payload)["id"] == command_id
    assert site.store.commands.pending_commands("U-1") == []


def sent_once(site: Site, command_id: int) -> None:
    """Wait until the store has counted the command's first sending."""
    deadline = time.monotonic() + WAIT_S
    while (
        command := site.store.commands.get_command(command_id)
    ) is None or command.sent_count < 1:
        assert time.monotonic() < deadline, f"command {command_id} not counted as sent"
        time.sleep(0.05)


@pytest.mark.parametrize("level", [4, 5])
def test_a_unit_offline_gets_its_command_once_it_connects_and_subscribes(
    site: Site, cli_store: SqliteStore, level: int
) -> None:
    site.unit("U-1")
    command_id = queue(cli_store)
    read_by_endpoint(site, cli_store)  # the endpoint has it now, with nobody to send to
    unit = Unit(site, level)
    assert unit.receive(1, within=0.5) == []  # not subscribed: nothing yet
    unit.subscribe("cmd/kenshin/U-1/#")
    publish = Publish(TOPIC, resend_json(command_id), qos=1, packet_id=1)
    assert unit.receive(2) == [SubAck(1, (1,)), publish]
    unit.send(PubAck(1))
    acknowledged(site, command_id, sent_count=1)


@pytest.mark.parametrize("level", [4, 5])
def test_a_resumed_session_gets_a_command_without_subscribing_again(
    site: Site, cli_store: SqliteStore, level: int
) -> None:
    site.unit("U-1")
    unit = Unit(site, level, clean=False)
    unit.subscribe("cmd/kenshin/U-1/#")
    assert unit.receive(1) == [SubAck(1, (1,))]
    unit.send(Disconnect())
    unit.close()
    command_id = queue(cli_store)
    read_by_endpoint(site, cli_store)
    again = Unit(site, level, clean=False)
    assert again.session_present
    assert again.receive(1) == [Publish(TOPIC, resend_json(command_id), 1, packet_id=1)]
    again.send(PubAck(1))
    acknowledged(site, command_id, sent_count=1)


def disconnected(site: Site, device: str) -> None:
    """Wait until the endpoint has seen the unit's connection end."""

    async def read() -> list[str]:
        return site.endpoint.connected  # on the endpoint's loop: it changes there

    def connected() -> list[str]:
        now = site.call(read())
        assert isinstance(now, list)
        return now

    deadline = time.monotonic() + WAIT_S
    while device in connected():
        assert time.monotonic() < deadline, f"{device} still connected"
        time.sleep(0.05)


def expired(caplog: pytest.LogCaptureFixture, device: str) -> float:
    """Wait until the endpoint says the unit's session expired; when it was seen."""
    deadline = time.monotonic() + WAIT_S
    while f"the session of unit {device} expired" not in caplog.text:
        assert time.monotonic() < deadline, f"the session of {device} did not expire"
        time.sleep(0.05)
    return time.monotonic()


def test_an_mqtt5_session_lasts_as_long_as_the_unit_asked(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kenshin.entrypoints.mqtt.server")
    site.unit("U-1")

    def connect_and_leave(expiry: int, *, present: bool) -> float:
        """When the unit left."""
        unit = Unit(site, 5, clean=False, expiry=expiry)
        assert unit.session_present is present
        unit.subscribe("cmd/kenshin/U-1/#")
        assert unit.receive(1) == [SubAck(1, (1,))]
        left = time.monotonic()
        unit.send(Disconnect())
        unit.close()
        disconnected(site, "U-1")
        return left

    connect_and_leave(0, present=False)
    connect_and_leave(60, present=False)  # interval 0 (the default): it ended with the first
    left = connect_and_leave(1, present=True)  # within the minute asked: resumed
    assert expired(caplog, "U-1") - left >= 1.0  # not before the second asked
    assert not Unit(site, 5, clean=False, expiry=0).session_present
    unit = Unit(site, 4, clean=True)
    unit.subscribe("cmd/kenshin/U-1/#")
    assert unit.receive(1) == [SubAck(1, (1,))]
    unit.close()
    disconnected(site, "U-1")
    assert not Unit(site, 4, clean=False).session_present  # MQTT 3.1.1: clean session ends


@pytest.mark.parametrize("level", [4, 5])
def test_a_command_not_acknowledged_goes_again_with_dup_on_the_next_connection(
    site: Site, cli_store: SqliteStore, level: int
) -> None:
    site.unit("U-1")
    unit = Unit(site, level, clean=False)
    unit.subscribe("cmd/kenshin/U-1/#")
    command_id = queue(cli_store)
    first = Publish(TOPIC, resend_json(command_id), qos=1, packet_id=1)
    assert unit.receive(2) == [SubAck(1, (1,)), first]
    unit.close()  # no PUBACK
    resumed = Unit(site, level, clean=False)  # the same session: the same packet id
    again = Publish(TOPIC, resend_json(command_id), qos=1, dup=True, packet_id=1)
    assert resumed.receive(1) == [again]
    resumed.close()
    fresh = Unit(site, level, clean=True)  # a new session: once it subscribes
    assert not fresh.session_present
    assert fresh.receive(1, within=0.5) == []
    fresh.subscribe("cmd/kenshin/U-1/resend")
    assert fresh.receive(2) == [SubAck(1, (1,)), again]
    fresh.send(PubAck(1))
    acknowledged(site, command_id, sent_count=3)


@pytest.mark.parametrize("level", [4, 5])
def test_while_connected_only_mqtt311_gets_a_command_again_after_the_retry_interval(
    site: Site, cli_store: SqliteStore, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "RETRY_S", 0.25)
    site.unit("U-1")
    unit = Unit(site, level)
    unit.subscribe("cmd/kenshin/U-1/#")
    command_id = queue(cli_store)
    first = Publish(TOPIC, resend_json(command_id), qos=1, packet_id=1)
    again = Publish(TOPIC, resend_json(command_id), qos=1, dup=True, packet_id=1)
    assert unit.receive(2) == [SubAck(1, (1,)), first]
    if level == 4:
        assert unit.receive(1) == [again]
    else:  # MQTT 5 forbids sending a PUBLISH again on the same connection
        assert unit.receive(1, within=3 * commands.RETRY_S) == []
    unit.send(PubAck(1))
    command = stored_acknowledged(site, command_id)
    # A slow machine may have sent it again before the PUBACK came: each sending counted
    # reaches the unit, and none comes after the acknowledgement.
    sent = 1 if level == 5 else command.sent_count
    assert command.sent_count == sent
    assert unit.receive(sent - 2) == [again] * (sent - 2)
    assert unit.receive(1, within=3 * commands.RETRY_S) == []  # acknowledged: not sent again


def test_a_qos0_subscription_gets_the_command_once_and_it_counts_as_acknowledged(
    site: Site, cli_store: SqliteStore
) -> None:
    site.unit("U-1")
    unit = Unit(site, 5)
    unit.subscribe("cmd/kenshin/U-1/#", qos=0)
    command_id = queue(cli_store)
    assert unit.receive(2) == [SubAck(1, (0,)), Publish(TOPIC, resend_json(command_id))]
    acknowledged(site, command_id, sent_count=1)


def test_a_puback_for_nothing_in_flight_is_ignored(site: Site) -> None:
    site.unit("U-1")
    unit = Unit(site, 4)
    unit.send(PubAck(9), PingReq())
    assert unit.receive(1) == [PingResp()]  # the connection goes on


def test_a_command_for_another_unit_never_reaches_this_one(
    site: Site, cli_store: SqliteStore
) -> None:
    site.unit("U-1")
    site.unit("U-2")
    mine = Unit(site, 5)
    mine.subscribe("cmd/kenshin/#", TOPIC)
    assert mine.receive(1) == [SubAck(1, (0x87, 1))]
    other = Unit(site, 5, device="U-2")
    other.subscribe("cmd/kenshin/U-2/resend")
    assert other.receive(1) == [SubAck(1, (1,))]
    command_id = queue(cli_store, "U-2")
    payload = resend_json(command_id)
    assert other.receive(1) == [Publish("cmd/kenshin/U-2/resend", payload, 1, packet_id=1)]
    assert mine.receive(1, within=1.5) == []
    assert site.store.commands.pending_commands("U-1") == []


def test_after_a_restart_pending_commands_go_out_once_the_unit_subscribes(
    site: Site, cli_store: SqliteStore
) -> None:
    site.unit("U-1")
    unit = Unit(site, 5, clean=False)
    unit.subscribe("cmd/kenshin/U-1/#")
    sent_before = queue(cli_store)
    assert unit.receive(2)[1] == Publish(TOPIC, resend_json(sent_before), 1, packet_id=1)
    unit.close()  # no PUBACK; then the server restarts, and a command is queued meanwhile
    sent_once(site, sent_before)
    never_sent = queue(cli_store)
    restarted = restart(site)
    again = Unit(site, 5, clean=False)
    try:
        assert not again.session_present  # its subscriptions went with the old process
        assert again.receive(1, within=0.5) == []
        again.subscribe("cmd/kenshin/U-1/#")
        assert again.receive(3) == [
            SubAck(1, (1,)),
            Publish(TOPIC, resend_json(sent_before), 1, dup=True, packet_id=1),
            Publish(TOPIC, resend_json(never_sent), 1, packet_id=2),
        ]
        again.send(PubAck(2), PubAck(1))
        acknowledged(site, sent_before, sent_count=2)
        acknowledged(site, never_sent, sent_count=1)
    finally:
        again.close()  # before the stop: a TLS close waits for the unit's answer
        site.call(restarted.stop())


def restart(site: Site) -> DeviceEndpoint:
    """A new endpoint on the site's database, as a restarted server has: nothing in
    memory. The site's connections go to it from now on."""

    async def start() -> DeviceEndpoint:
        commits = CommitQueue(Ingest(site.store, site.security), max_messages=10, window_s=0.02)
        settings = EndpointSettings("127.0.0.1", 0, connect_timeout_s=5)
        tls = server_ssl_context(site.folder / PKI_FOLDER)
        endpoint = DeviceEndpoint(settings, tls, site.store, commits, site.security)
        await endpoint.start()
        return endpoint

    endpoint = site.call(start())
    assert isinstance(endpoint, DeviceEndpoint)
    site.port = endpoint.port
    return endpoint


def test_each_poll_reads_only_the_commands_added_since_the_one_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commands, "_POLL_LIMIT", 2)  # several reads make one poll
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "Acme"))
    store.registry.add_device(Device("U-1", "C-1"))
    queued = CommandQueue(store, lambda: START)

    async def main() -> None:
        ids = [store.commands.add_command("U-1", "resend", b"%d" % n, START) for n in range(5)]
        assert [c.id for c in await queued.poll()] == ids
        assert await queued.poll() == []
        newest = store.commands.add_command("U-1", "resend", b"", START)
        assert [c.id for c in await queued.poll()] == [newest]
        for command in queued.pending("U-1")[:5]:
            queued.acknowledged(command)
        await queued.drain()
        assert [c.id for c in queued.pending("U-1")] == [newest]
        assert [c.id for c in store.commands.pending_commands("U-1")] == [newest]
        assert await queued.poll() == []

    asyncio.run(main())


class SlowToCount(MemoryCommands):
    """A command queue slow to record a sending (a busy disk): the write waits up to half
    a second for an acknowledgement to land first. Notes the sent count each
    acknowledgement found."""

    def __init__(self, has_device: Callable[[str], bool]) -> None:
        super().__init__(has_device)
        self.acknowledging = threading.Event()
        self.sent_when_acknowledged: list[int] = []

    def command_sent(self, command_id: int, at: int) -> None:
        self.acknowledging.wait(0.5)
        super().command_sent(command_id, at)

    def acknowledge_command(self, command_id: int, at: int) -> None:
        self.acknowledging.set()
        command = self.get_command(command_id)
        assert command is not None
        self.sent_when_acknowledged.append(command.sent_count)
        super().acknowledge_command(command_id, at)


@pytest.mark.parametrize("qos", [0, 1])
def test_the_store_never_has_a_command_acknowledged_before_its_sending(qos: int) -> None:
    store = MemoryStore()
    store.commands = slow = SlowToCount(store.registry.has_device)
    store.registry.add_customer(Customer("C-1", "Acme"))
    store.registry.add_device(Device("U-1", "C-1"))
    command_id = store.commands.add_command("U-1", "resend", b"{}", START)
    queued = CommandQueue(store, lambda: START)
    sender = CommandSender("U-1", queued, lambda _packet: True, lambda *_: None)

    async def main() -> None:
        await queued.poll()
        sender.subscribe(Subscribe(1, (Subscription("cmd/kenshin/U-1/#", qos),)))
        sender.send_pending()
        if qos == 1:  # the PUBACK comes at once: the sending is not in the store yet
            sender.acknowledged(PubAck(1))
        await queued.drain()

    asyncio.run(main())
    assert slow.sent_when_acknowledged == [1]
    command = store.commands.get_command(command_id)
    assert command is not None
    assert (command.sent_count, command.acknowledged_at) == (1, START)


# kenshin devices resend
def test_devices_resend_queues_a_command_the_connected_unit_receives(site: Site) -> None:
    site.unit("U-1")
    unit = Unit(site, 5)
    unit.subscribe("cmd/kenshin/U-1/#")
    assert unit.receive(1) == [SubAck(1, (1,))]
    # C-1's time zone is Asia/Tokyo: 09:00 there is 00:00 UTC.
    args = ["devices", "resend", "U-1", "--from", f"{DAY}T09:00", "--to", f"{DAY}T15:00"]
    done = kenshin(site.folder, *args)
    assert done.exit_code == 0, done.output
    assert done.output == (
        f"queued command 1: U-1 is to resend its readings from {DAY}T09:00+09:00 to"
        f" {DAY}T15:00+09:00\n"
        "it goes out on cmd/kenshin/U-1/resend when the unit is connected and subscribed\n"
    )
    assert unit.receive(1) == [Publish(TOPIC, resend_json(1, DAY), 1, packet_id=1)]


@pytest.mark.parametrize(
    ("start", "end", "timezone"),
    [
        (f"{DAY}T00:00", f"{DAY}T06:00", "UTC"),
        (f"{DAY}T00:00Z", f"{DAY}T06:00+00:00", None),  # offsets are taken as given
        (_in("America/New_York", 0), _in("America/New_York", 6), "America/New_York"),
    ],
)
def test_devices_resend_reads_times_in_the_zone_given(
    site: Site, start: str, end: str, timezone: str | None
) -> None:
    site.unit("U-1")
    zone = ["--timezone", timezone] if timezone else []
    done = kenshin(site.folder, "devices", "resend", "U-1", "--from", start, "--to", end, *zone)
    assert done.exit_code == 0, done.output
    [command] = site.store.commands.pending_commands("U-1")
    assert (command.name, command.payload) == ("resend", resend_json(command.id, DAY))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["U-9", "--from", f"{DAY}T09:00", "--to", f"{DAY}T10:00"], "no device 'U-9'"),
        (["U-1", "--from", f"{DAY}T10:00", "--to", f"{DAY}T10:00"], "--from must be"),
        (["U-1", "--from", "yesterday", "--to", f"{DAY}T10:00"], "'yesterday': expected"),
        (["U-1", "--from", f"{DAY}T09:00", "--to", "2999-01-01T00:00"], "in the future"),
        (["U-1", "--from", f"{DAY}", "--to", f"{DAY}T01:00", "--timezone", "Mars/Base"], "Mars"),
        (["U-1", "--from", "0001-01-01T00:00+14:00", "--to", f"{DAY}T10:00"], "last 100 days"),
        (["U-1", "--from", "0001-01-01T00:00Z", "--to", f"{DAY}T10:00"], "last 100 days"),
        (["U-1", "--from", f"{DAY - timedelta(days=101)}T00:00", "--to", f"{DAY}T10:00"], "100"),
    ],
)
def test_devices_resend_refuses_what_a_unit_cannot_answer(
    site: Site, args: list[str], message: str
) -> None:
    site.unit("U-1")
    refused = kenshin(site.folder, "devices", "resend", *args)
    assert refused.exit_code == 2
    assert message in refused.output
    assert site.store.commands.pending_commands("U-1") == []
