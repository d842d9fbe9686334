"""``kenshin serve`` with its device endpoint in two processes (``mqtt.processes = 2``):
what units see is what one process gives them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from conftest import kenshin, make_site, serve_process, wait_for
from kenshin.adapters.sqlite import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.endpoint_processes]

UNITS = ["U-1", "U-2", "U-3", "U-4"]
SESSION_TAKEN_OVER = 0x8E


def reading(device: str, slot: int) -> bytes:
    """One reading of the unit's meter at the ``slot``-th half hour of 2026-11-26."""
    at = f"2026-11-26T{slot // 2:02d}:{30 * (slot % 2):02d}:00+09:00"
    meter = {"meter": f"M-{device}", "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    meter["readings"] = [{"t": at, "fwd": 1000 + slot}]
    message = {"v": 1, "device": device, "seq": slot, "sent": at, "meters": [meter]}
    return json.dumps(message).encode()


Served = tuple[Path, subprocess.Popen[str], int]


def start(root: Path) -> Iterator[Served]:
    """Units U-1 to U-4, and `kenshin serve` with two endpoint processes."""
    site = make_site(root, "site")
    certs = str(site / "certs")
    added = kenshin(site, "devices", "add", *UNITS, "--customer", "C-001", "--out", certs)
    assert added.exit_code == 0, added.output
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_MQTT__PROCESSES": "2"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, env, 2, stderr=subprocess.DEVNULL)
    yield site, process, ports["MQTT over TLS"]
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the tests that leave it running (each with units of its own, or
    with what it checks its own)."""
    yield from start(tmp_path_factory.mktemp("processes"))


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Served]:
    """A server of the test's own, which it stops or breaks."""
    yield from start(tmp_path)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tls(site: Path, device: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(site / "certs" / "ca.pem")
    context.load_cert_chain(site / "certs" / f"{device}.pem", site / "certs" / f"{device}.key")
    context.check_hostname = False
    return context


class Unit:
    """A paho MQTT 5 client of ``device``, connected; the reason it was disconnected."""

    def __init__(self, site: Path, device: str, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv5
        )
        self.client.tls_set_context(tls(site, device))
        self.connected = threading.Event()
        self.gone: list[int] = []
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10), f"{device} did not connect"

    def _on_disconnect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.gone.append(reason.value)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_every_reading_is_stored_and_acknowledged_after_its_commit(
    served: Served,
) -> None:
    site, process, port = served
    assert len(children(process.pid)) == 2  # the endpoint processes
    sent = 0
    for connection in range(2):  # new connections: the system hands them to either process
        for device in UNITS:
            unit = Unit(site, device, port)
            slots = range(connection * 10, connection * 10 + 10)
            infos = [
                unit.client.publish(f"dt/kenshin/{device}/readings", reading(device, s), qos=1)
                for s in slots
            ]
            for info in infos:
                info.wait_for_publish(10)  # the PUBACK: committed
            sent += len(infos)
            unit.close()
    store = SqliteStore(site / "kenshin.db")
    try:
        meters = [f"M-{device}" for device in UNITS]
        stored = dict(store.readings.readings_between(meters, 0, 2**40))
        for meter in meters:
            assert [r.fwd for r in stored[meter]] == [1000 + s for s in range(20)]
    finally:
        store.close()
    assert sent == 80


def test_a_unit_connecting_again_through_either_process_takes_over(
    served: Served,
) -> None:
    site, _, port = served
    earlier = Unit(site, "U-1", port)
    for _ in range(6):  # both processes, all but surely
        later = Unit(site, "U-1", port)
        wait_for("the earlier connection closed", earlier.gone.copy, 10)
        assert earlier.gone == [SESSION_TAKEN_OVER]
        earlier.client.loop_stop()
        earlier = later
    assert not earlier.gone
    earlier.close()


def test_a_unit_resumes_its_tls_session_whichever_process_it_reaches(
    served: Served,
) -> None:
    site, _, port = served
    context, session, resumed = tls(site, "U-1"), None, 0
    for _ in range(13):
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, session=session) as sock,
        ):
            sock.sendall(b"\xe0\x00")  # a DISCONNECT: the server's ticket comes meanwhile
            sock.settimeout(5)
            while sock.recv(64):  # until the server closes
                pass
            resumed += bool(sock.session_reused)
            session = sock.session
    assert resumed == 12


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
        text = page.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_statuses_presence_and_security_events_reach_the_server(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    certs = str(site / "certs")
    added = kenshin(site, "devices", "add", *UNITS, "--customer", "C-001", "--out", certs)
    assert added.exit_code == 0, added.output
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_MQTT__PROCESSES": "2", "KENSHIN_HTTP__HOST": "127.0.0.1"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, env, 2, stderr=subprocess.DEVNULL)
    port, http = ports["MQTT over TLS"], ports["HTTP (metrics, health)"]
    try:
        units = [Unit(site, device, port) for device in UNITS]
        wait_for("4 units connected", lambda: metric(http, "kenshin_units_connected") == 4)
        unit = units[0]
        unit.client.publish("dt/kenshin/U-1/status", b'{"rssi": -71}', qos=1).wait_for_publish(10)
        refused = unit.client.publish("dt/kenshin/U-2/readings", reading("U-2", 0), qos=1)
        refused.wait_for_publish(10)  # answered: not authorized
        topic_refused = 'kenshin_security_events_total{kind="topic_refused"}'
        wait_for("the security event counted", lambda: metric(http, topic_refused) == 1)
        for each in units:
            each.close()
        wait_for("no unit connected", lambda: metric(http, "kenshin_units_connected") == 0)
    finally:
        process.send_signal(signal.SIGTERM)  # the statuses waiting are stored on the way out
        process.communicate(timeout=60)
    assert process.returncode == 0
    store = SqliteStore(site / "kenshin.db")
    try:
        assert store.unit_clocks.statuses()["U-1"][1] == b'{"rssi": -71}'
        assert not list(store.readings.readings_between(["M-U-2"], 0, 2**40))
    finally:
        store.close()


def test_an_endpoint_process_that_dies_is_started_again(
    own_server: Served,
) -> None:
    site, process, port = own_server
    first = children(process.pid)
    os.kill(first[0], signal.SIGKILL)
    again = wait_for("a new endpoint process", lambda: set(children(process.pid)) - set(first))
    assert len(again) == 1
    wait_for("two endpoint processes", lambda: len(children(process.pid)) == 2)
    for slot in range(4):  # whichever process each connection reaches, it is served
        unit = Unit(site, "U-3", port)
        unit.client.publish(
            "dt/kenshin/U-3/readings", reading("U-3", slot), qos=1
        ).wait_for_publish(10)
        unit.close()
    store = SqliteStore(site / "kenshin.db")
    try:
        stored = dict(store.readings.readings_between(["M-U-3"], 0, 2**40))
        assert [r.fwd for r in stored["M-U-3"]] == [1000, 1001, 1002, 1003]
    finally:
        store.close()


class Subscriber(Unit):
    """A unit on a new session, subscribed to its commands; the commands it got."""

    def __init__(self, site: Path, device: str, port: int) -> None:
        self.commands: list[bytes] = []
        self.subscribed = threading.Event()
        super().__init__(site, device, port)
        self.client.on_message = lambda _c, _u, message: self.commands.append(
            bytes(message.payload)
        )
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.subscribe(f"cmd/kenshin/{device}/#", qos=1)
        assert self.subscribed.wait(10)


def test_a_command_acknowledged_through_one_process_is_not_sent_again_by_another(
    served: Served,
) -> None:
    site, _, port = served
    first = Subscriber(site, "U-1", port)
    resend = ["devices", "resend", "U-1", "--from", "2026-11-26T00:00", "--to", "2026-11-26T01:00"]
    assert kenshin(site, *resend).exit_code == 0
    got = wait_for("the command", lambda: first.commands)  # paho acknowledges it
    assert b'"command":"resend"' in got[0]
    store = SqliteStore(site / "kenshin.db")
    try:
        wait_for("its acknowledgement stored", lambda: not store.commands.pending_commands("U-1"))
    finally:
        store.close()
    first.close()
    for _ in range(6):  # new sessions, through either process
        unit = Subscriber(site, "U-1", port)
        unit.client.publish("dt/kenshin/U-1/readings", reading("U-1", 0), qos=1).wait_for_publish(
            10
        )
        unit.close()
        assert unit.commands == []


def test_endpoint_processes_stop_when_the_server_is_gone(
    own_server: Served,
) -> None:
    _, process, _ = own_server
    endpoint_processes = children(process.pid)
    process.kill()  # no time to tell them: their link breaks

    def stopped() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in endpoint_processes)

    wait_for("the endpoint processes exited", stopped, 30)
