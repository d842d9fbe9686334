"""``kenshin broker-config mosquitto``: a real Mosquitto started from what it writes, and
real clients (mosquitto_pub, mosquitto_sub) with the units' and the workers' certificates."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import kenshin, make_site, wait_for

MOSQUITTO = "/usr/sbin/mosquitto"
PUB, SUB = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
SHARED = "$share/kenshin/dt/kenshin/+/readings"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (os.access(MOSQUITTO, os.X_OK) and PUB and SUB),
        reason=f"needs Mosquitto ({MOSQUITTO}) and its clients mosquitto_pub and mosquitto_sub"
        " (Debian: apt-get install mosquitto mosquitto-clients)",
    ),
]


@dataclass
class Broker:
    site: Path
    folder: Path
    certs: Path
    port: int
    process: subprocess.Popen[bytes]

    def tls(self, cert: Path, key: Path, ca: Path | None = None) -> list[str]:
        """The options of a client connecting with this certificate and key."""
        ca = ca or self.certs / "ca.pem"
        server = ["-h", "localhost", "-p", str(self.port), "-V", "mqttv5"]
        return [*server, "--cafile", str(ca), "--cert", str(cert), "--key", str(key)]

    def unit(self, device_id: str) -> list[str]:
        return self.tls(self.certs / f"{device_id}.pem", self.certs / f"{device_id}.key")

    def worker(self) -> list[str]:
        return self.tls(self.folder / "worker.pem", self.folder / "worker.key")

    def publish(
        self, client: list[str], topic: str, message: str
    ) -> subprocess.CompletedProcess[str]:
        """Publish at QoS 1: once it returns, the broker has handled the message."""
        command = [str(PUB), *client, "-q", "1", "-t", topic, "-m", message]
        return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)

    def subscribe(self, client: list[str], *topics: str) -> Subscriber:
        """A subscriber to ``topics``, once the broker has answered its SUBSCRIBE."""
        filters = [arg for topic in topics for arg in ("-t", topic)]
        process = subprocess.Popen(
            # stdbuf: each line as it is printed, not once a buffer is full
            ["stdbuf", "-oL", str(SUB), *client, "-q", "1", "-v", "-d", *filters],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        subscriber = Subscriber(process)
        subscriber.next_line(lambda line: line.startswith("Subscribed (mid"))
        return subscriber


@dataclass
class Subscriber:
    process: subprocess.Popen[str]

    def next_line(self, wanted: object) -> str:
        """The first line of output ``wanted`` accepts (lines of the client's log skipped)."""
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            assert line, f"the subscriber ended: {self.process.wait(10)}"
            if wanted(line):  # type: ignore[operator]
                return line.rstrip("\n")

    def next_message(self) -> str:
        """The next message, as 'topic payload'."""
        return self.next_line(lambda line: not line.startswith(("Client ", "Subscribed ")))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    site = make_site(tmp_path, "site")
    certs, folder, port = tmp_path / "certs", tmp_path / "broker", free_port()
    added = kenshin(
        site, "devices", "add", "U-1", "U-2", "--customer", "C-001", "--out", str(certs)
    )
    assert added.exit_code == 0, added.output
    user = pwd.getpwuid(os.geteuid()).pw_name  # the broker runs as whoever runs the tests
    done = kenshin(
        site,
        "broker-config",
        "mosquitto",
        "--out",
        str(folder),
        "--port",
        str(port),
        "--user",
        user,
    )
    assert done.exit_code == 0, done.output
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(folder / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for("the broker listening", lambda: process.poll() is None and accepts(port))
        yield Broker(site, folder, certs, port, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_writes_the_configuration_keys_private(broker: Broker) -> None:
    names = sorted(p.name for p in broker.folder.iterdir())
    assert names == [
        "acl",
        "broker.key",
        "broker.pem",
        "ca.pem",
        "crl.pem",
        "data",
        "mosquitto.conf",
        "worker.key",
        "worker.pem",
    ]
    assert {p.name for p in broker.folder.iterdir() if p.stat().st_mode & 0o077 == 0} >= {
        "broker.key",
        "worker.key",
        "data",
    }
    conf = (broker.folder / "mosquitto.conf").read_text()
    for line in ("require_certificate true", "use_identity_as_username true", "persistence true"):
        assert line in conf.splitlines()


def test_a_units_readings_reach_the_workers_shared_subscription(broker: Broker) -> None:
    worker = broker.subscribe(broker.worker(), SHARED)
    try:
        sent = broker.publish(broker.unit("U-1"), "dt/kenshin/U-1/readings", "r1")
        assert sent.returncode == 0, sent.stderr
        assert worker.next_message() == "dt/kenshin/U-1/readings r1"
    finally:
        worker.close()


def test_a_unit_cannot_publish_as_another(broker: Broker) -> None:
    worker = broker.subscribe(broker.worker(), SHARED)
    try:
        broker.publish(broker.unit("U-1"), "dt/kenshin/U-2/readings", "forged")
        broker.publish(broker.unit("U-1"), "dt/kenshin/U-1/readings", "own")
        # QoS 1 and one publisher after the other: the forged one would have come first.
        assert worker.next_message() == "dt/kenshin/U-1/readings own"
    finally:
        worker.close()


def test_a_unit_cannot_read_another_units_commands(broker: Broker) -> None:
    unit = broker.subscribe(broker.unit("U-2"), "cmd/kenshin/U-1/#", "cmd/kenshin/U-2/#")
    try:
        for device_id in ("U-1", "U-2"):
            sent = broker.publish(broker.worker(), f"cmd/kenshin/{device_id}/resend", device_id)
            assert sent.returncode == 0, sent.stderr
        assert unit.next_message() == "cmd/kenshin/U-2/resend U-2"
    finally:
        unit.close()


def test_a_certificate_of_another_ca_is_refused(broker: Broker, tmp_path: Path) -> None:
    other = make_site(tmp_path, "other")
    out = tmp_path / "other-certs"
    assert (
        kenshin(other, "devices", "add", "U-1", "--customer", "C-001", "--out", str(out)).exit_code
        == 0
    )
    client = broker.tls(out / "U-1.pem", out / "U-1.key", ca=broker.certs / "ca.pem")
    refused = broker.publish(client, "dt/kenshin/U-1/readings", "r1")
    assert refused.returncode != 0


def test_a_revoked_unit_is_refused_once_the_crl_is_written_and_the_broker_reloads(
    broker: Broker,
) -> None:
    assert broker.publish(broker.unit("U-1"), "dt/kenshin/U-1/readings", "r1").returncode == 0
    assert kenshin(broker.site, "devices", "remove", "U-1").exit_code == 0
    done = kenshin(
        broker.site, "broker-config", "mosquitto", "--out", str(broker.folder), "--crl-only"
    )
    assert done.exit_code == 0, done.output
    assert "crl.pem" in done.output.splitlines()[0]
    broker.process.send_signal(signal.SIGHUP)
    wait_for(
        "U-1 refused after the broker read its CRL again",
        lambda: broker.publish(broker.unit("U-1"), "dt/kenshin/U-1/readings", "r2").returncode != 0,
    )
    assert broker.publish(broker.unit("U-2"), "dt/kenshin/U-2/readings", "r1").returncode == 0
    again = kenshin(
        broker.site, "broker-config", "mosquitto", "--out", str(broker.folder), "--crl-only"
    )
    assert "nothing (the CRL is up to date)" in again.output
