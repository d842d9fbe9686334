"""A unit revoked while it is connected to the broker: the leading worker closes its
connection, and the broker, its CRL written again and reloaded, refuses it from then on."""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from conftest import kenshin, wait_for
from test_broker_config import PUB, SUB
from test_simulate_network import ids
from workers.conftest import Cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (PUB and SUB), reason="needs mosquitto_pub and mosquitto_sub"),
]


def unit_options(cluster: Cluster, device: str) -> list[str]:
    certs = cluster.site / "certs"
    return [
        *("-h", "localhost", "-p", str(cluster.port), "-V", "mqttv5", "-q", "1"),
        *("--cafile", str(certs / "ca.pem"), "--cert", str(certs / f"{device}.pem")),
        *("--key", str(certs / f"{device}.key"), "-i", device),
    ]


def test_a_connected_unit_revoked_is_disconnected_and_refused(cluster: Cluster) -> None:
    device = ids(cluster.site)[0]
    cluster.start_worker("w1")
    listening = subprocess.Popen(
        [
            "stdbuf",
            "-oL",
            str(SUB),
            *unit_options(cluster, device),
            "-d",
            "-t",
            f"cmd/kenshin/{device}/#",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert listening.stdout is not None
    try:
        while "SUBACK" not in (line := listening.stdout.readline()):
            assert line, "the unit could not subscribe"
        assert kenshin(cluster.site, "devices", "revoke", device).exit_code == 0
        out = str(cluster.site / "broker")
        crl = kenshin(cluster.site, "broker-config", "mosquitto", "--out", out, "--crl-only")
        assert crl.exit_code == 0, crl.output
        assert cluster.broker is not None
        cluster.broker.send_signal(signal.SIGHUP)  # reads the CRL again
        # The connection closed, the unit connects again (mosquitto_sub does) and is refused.
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(listening.stdout or ()), daemon=True)
        reader.start()
        wait_for(
            "the unit connecting again",
            lambda: any("sending CONNECT" in line for line in seen),
            timeout_s=30,
        )
    finally:
        listening.kill()
        listening.communicate(timeout=10)
    topic = f"dt/kenshin/{device}/readings"
    refused = subprocess.run(
        [str(PUB), *unit_options(cluster, device), "-t", topic, "-m", "{}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert refused.returncode != 0
