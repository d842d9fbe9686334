"""``kenshin serve`` as a process: listens, stores what units send, exports, stops cleanly."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import kenshin, make_site, serve_process, wait_for
from kenshin.adapters.sqlite import SqliteStore

from .test_publish import readings

pytestmark = pytest.mark.integration


@pytest.fixture(
    params=[
        pytest.param("1", id="endpoint in the server"),
        pytest.param("2", id="2 endpoint processes", marks=pytest.mark.endpoint_processes),
    ]
)
def served(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Path, subprocess.Popen[str], int]]:
    """A site with unit U-1 (certificates in site/certs) and `kenshin serve` running on it,
    its endpoint in its own process or in two of their own."""
    site = make_site(tmp_path, "site")
    added = kenshin(
        site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(site / "certs")
    )
    assert added.exit_code == 0, added.output
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    env |= {"KENSHIN_MQTT__PROCESSES": request.param}
    process, ports = serve_process(site, env)
    yield site, process, ports["MQTT over TLS"]
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


def unit(site: Path, port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="U-1", protocol=mqtt.MQTTv5)
    certs = site / "certs"
    c.tls_set(
        ca_certs=str(certs / "ca.pem"),
        certfile=str(certs / "U-1.pem"),
        keyfile=str(certs / "U-1.key"),
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    c.connect("localhost", port)
    c.loop_start()
    return c


def test_serve_stores_exports_and_stops_on_sigterm_without_losing_an_ack(
    served: tuple[Path, subprocess.Popen[str], int],
) -> None:
    site, process, port = served
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    # The schedule exports at start: today's provisional file appears.
    exported = site / "outbox" / "C-001"
    wait_for("the export at start", lambda: list(exported.glob(f"C-001_{today:%Y%m%d}.csv")), 20)
    c = unit(site, port)
    acked: list[int] = []
    lock = threading.Lock()

    def on_publish(_c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        with lock:
            acked.append(mid)

    c.on_publish = on_publish
    first = c.publish("dt/kenshin/U-1/readings", readings("U-1", 0, 1000), qos=1)
    first.wait_for_publish(10)  # connected, and the endpoint answers
    sent = {first.mid: 0}
    for n in range(1, 60):
        sent[c.publish("dt/kenshin/U-1/readings", readings("U-1", n, 1000 + n), qos=1).mid] = n
    process.send_signal(signal.SIGTERM)  # while publishes are in flight
    out, err = process.communicate(timeout=30)
    c.loop_stop()
    assert process.returncode == 0, err
    assert out.endswith("stopped\n")
    assert "Traceback" not in err  # stopping mid-publish is orderly, not an error
    store = SqliteStore(site / "kenshin.db")
    stored = {r.fwd for _, rs in store.readings.readings_between(["M-U-1"], 0, 2**40) for r in rs}
    conflicts = {c.new_fwd for c in store.readings.list_conflicts()}
    store.close()
    # Same instant in every message: one stored, the others conflicts; all of them kept.
    with lock:
        assert {1000 + sent[mid] for mid in acked} <= stored | conflicts
    assert first.mid in acked


@pytest.mark.parametrize("served", ["1"], indirect=True, ids=["endpoint in the server"])
def test_a_second_serve_on_the_same_data_folder_exits_naming_the_first(
    served: tuple[Path, subprocess.Popen[str], int],
) -> None:
    site, first, _ = served
    command = [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml"), "serve"]
    ports = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_HTTP__PORT": "0"}
    ports |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    second = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | ports
    )
    try:
        out, err = second.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        second.kill()
        second.communicate(timeout=10)
        pytest.fail("a second kenshin serve runs on the same data folder")
    assert second.returncode == 1
    assert "listening" not in out
    assert f"in use by kenshin serve process {first.pid}" in err
    # A killed server leaves no lock behind: the next one starts.
    first.kill()
    first.communicate(timeout=10)
    third, _ = serve_process(site, ports)
    third.terminate()
    assert third.communicate(timeout=30)[0].endswith("stopped\n")
