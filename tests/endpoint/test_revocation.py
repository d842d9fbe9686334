"""A revoked unit is closed within seconds, and nothing it sends after its revocation is
acknowledged or stored; a certificate of kenshin's CA for a device not registered is
refused at CONNECT."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import kenshin, make_site, serve_process, wait_for
from kenshin.adapters.pki import PKI_FOLDER, LocalCertificateAuthority
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Device
from kenshin.entrypoints.mqtt.codec import ConnAck, Connect, Disconnect, Publish
from kenshin.entrypoints.mqtt.server import EndpointSettings

from .conftest import Site
from .test_publish import readings, stored_fwd
from .test_security import connect, events, exchange

pytestmark = pytest.mark.integration

T0 = 1_700_000_000  # reading n is dated T0 + 60 n: which message a stored reading came in


@pytest.fixture
def endpoint_settings() -> EndpointSettings:
    """Connected units are checked for revocation only once a minute: what is refused
    sooner is refused when it is committed."""
    return EndpointSettings("127.0.0.1", 0, connect_timeout_s=5, revocation_check_s=60)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """`kenshin serve` with its default settings, and unit U-1 (certificates in certs/)."""
    site = make_site(tmp_path, "site")
    added = kenshin(
        site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(site / "certs")
    )
    assert added.exit_code == 0, added.output
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, env)
    yield site, ports["MQTT over TLS"]
    process.terminate()
    try:
        process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def message(n: int) -> bytes:
    """Message ``n`` of U-1: one reading dated T0 + 60 n."""
    reading = {"t": iso(T0 + 60 * n), "fwd": 1000 + n}
    meter = {"meter": "M-U-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    body = {"v": 1, "device": "U-1", "seq": n, "sent": iso(time.time())}
    return json.dumps(body | {"meters": [meter | {"readings": [reading]}]}).encode()


def iso(t: float) -> str:
    return datetime.fromtimestamp(int(t), UTC).isoformat()


class PublishingUnit:
    """Unit U-1 publishing a message at QoS 1 every 20 ms until it is disconnected."""

    def __init__(self, site: Path, port: int) -> None:
        self.sent_at: dict[int, float] = {}  # message n: when publish was called
        self.acked: set[int] = set()
        self.disconnected = threading.Event()
        self._mids: dict[int, int] = {}
        self._lock = threading.Lock()
        certs = site / "certs"
        c = self.client = mqtt.Client(CallbackAPIVersion.VERSION2, "U-1", protocol=mqtt.MQTTv5)
        c.tls_set(str(certs / "ca.pem"), str(certs / "U-1.pem"), str(certs / "U-1.key"))
        c.on_publish = self._on_publish
        c.on_disconnect = lambda *_: self.disconnected.set()
        c.connect("localhost", port)
        c.loop_start()
        self._thread = threading.Thread(target=self._publish, daemon=True)
        self._thread.start()

    def _publish(self) -> None:
        n = 0
        while not self.disconnected.is_set():
            n += 1
            with self._lock:
                self.sent_at[n] = time.time()
                info = self.client.publish("dt/kenshin/U-1/readings", message(n), qos=1)
                self._mids[info.mid] = n
            time.sleep(0.02)  # a reading every 20 ms, before and after the revocation

    def _on_publish(self, _c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            self.acked.add(self._mids[mid])

    def stop(self) -> None:
        self.disconnected.set()
        self._thread.join(5)
        self.client.loop_stop()


def test_a_unit_revoked_while_publishing_is_closed_and_nothing_it_sends_after_is_stored(
    served: tuple[Path, int],
) -> None:
    site, port = served
    unit = PublishingUnit(site, port)
    wait_for("readings acknowledged", lambda: len(unit.acked) >= 10)  # connected, stored
    revoked = kenshin(site, "devices", "revoke", "U-1")
    revoked_at = time.time()  # the revocation is committed by now
    assert revoked.exit_code == 0, revoked.output
    assert unit.disconnected.wait(5), "still connected 5 s after the revocation"
    unit.stop()
    # Usually the unit is closed at its first PUBLISH after the revocation, before the
    # command has returned: nothing it sent after is acknowledged or stored either way.
    after = {n for n, at in unit.sent_at.items() if at > revoked_at}
    assert not unit.acked & after
    store = SqliteStore(site / "kenshin.db")
    stored = {
        (r.t - T0) // 60
        for _, rs in store.readings.readings_between(["M-U-1"], 0, 2**40)
        for r in rs
    }
    store.close()
    assert unit.acked <= stored  # what was acknowledged is stored
    assert not stored & after


def test_a_revoked_unit_publishing_before_the_next_check_has_nothing_stored(site: Site) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    topic = "dt/kenshin/U-1/readings"
    assert exchange(conn, 5, Publish(topic, readings("U-1", 1, 7), qos=1, packet_id=1), expect=1)
    site.store.certificates.revoke_device("U-1", int(time.time()))
    late = Publish(topic, readings("U-1", 2, 8), qos=1, packet_id=2)
    assert exchange(conn, 5, late) == [Disconnect(0x87)]  # no PUBACK: refused at commit
    assert stored_fwd(site, "M-U-1") == [7]
    assert events(site, "revoked_while_connected") == 1


@pytest.mark.parametrize("level", [4, 5])
def test_a_certificate_for_a_device_not_registered_is_refused_at_connect(
    site: Site, level: int
) -> None:
    site.unit("U-9", register=False)  # of kenshin's CA, but no such device
    answers = exchange(site.tls("U-9"), level, Connect(level, "U-9"))
    assert answers == [ConnAck(reason_code=0x87)]  # 3.1.1: return code 5, not authorized
    # A registered device, with a certificate the store has no record of: refused too.
    site.store.registry.add_device(Device("U-8", "C-1"))
    authority = LocalCertificateAuthority.load(site.folder / PKI_FOLDER)
    issued = authority.issue_device("U-8")
    (site.certs / "U-8.pem").write_bytes(issued.cert_pem)
    (site.certs / "U-8.key").write_bytes(issued.key_pem)
    answers = exchange(site.tls("U-8"), level, Connect(level, "U-8"))
    assert answers == [ConnAck(reason_code=0x87)]
    assert events(site, "certificate_refused", 2) == 2
    assert site.endpoint.connected == []
    assert site.store.dead_letters.count_dead_letters() == 0
