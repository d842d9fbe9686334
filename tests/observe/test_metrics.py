"""/metrics of a running ``kenshin serve`` counts what units sent, what was stored and
exported, and what was refused; Prometheus' own parser reads it."""

from __future__ import annotations

import ftplib
import json
import shutil
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from conftest import serve_process, wait_for
from delivery.conftest import DAY_FILE, make_delivery_site, publish_files
from delivery.conftest import Served as FilesServed
from delivery.test_ftps import fetch, session
from delivery.test_sftp import read, with_sftp
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Receipt
from kenshin.domain.alerts import Alert, Event, Notification, Severity
from kenshin.domain.model import Customer
from kenshin.services.batching import CommitStats
from kenshin.services.metrics import DownloadTally, LiveCounts, ServerMetrics

from .conftest import HTTP, Served

pytestmark = pytest.mark.integration

TOPIC = "dt/kenshin/U-1/readings"
SLOT = 1800


def message(seq: int, registers: dict[int, int]) -> bytes:
    """A readings message of U-1's meter: register value by reading time."""
    readings = [
        {"t": datetime.fromtimestamp(t, UTC).isoformat(), "fwd": fwd}
        for t, fwd in sorted(registers.items())
    ]
    meter = {"meter": "M-U-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    sent = datetime.now(UTC).isoformat(timespec="seconds")
    body = {
        "v": 1,
        "device": "U-1",
        "seq": seq,
        "sent": sent,
        "meters": [{**meter, "readings": readings}],
    }
    return json.dumps(body).encode()


def unit(served: Served) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="U-1", protocol=mqtt.MQTTv5)
    certs = served.site / "certs"
    c.tls_set(
        ca_certs=str(certs / "ca.pem"),
        certfile=str(certs / "U-1.pem"),
        keyfile=str(certs / "U-1.key"),
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    c.connect("localhost", served.mqtt_port)
    c.loop_start()
    return c


def not_tls(port: int) -> None:
    """Plain bytes to the TLS endpoint: a security event of kind tls_not_tls."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        conn.recv(100)  # the server closes it


def test_metrics_agree_with_what_units_sent_and_the_store_kept(served: Served) -> None:
    start = (int(time.time()) // SLOT - 96) * SLOT  # two days ago
    first = {start + i * SLOT: 1000 + i for i in range(15)}
    batches = [dict(list(first.items())[i : i + 3]) for i in range(0, 15, 3)]
    c = unit(served)
    sent = [c.publish(TOPIC, message(n, regs), qos=1) for n, regs in enumerate(batches)]
    sent.append(c.publish(TOPIC, message(5, batches[0]), qos=1))  # 3 duplicates
    sent.append(c.publish(TOPIC, message(6, {start: 999}), qos=1))  # 1 conflict
    sent.append(c.publish(TOPIC, b"not a readings message", qos=1))  # 1 dead letter
    for info in sent:
        info.wait_for_publish(10)  # acknowledged: committed
    not_tls(served.mqtt_port)
    not_tls(served.mqtt_port)
    event = 'kenshin_security_events_total{kind="tls_not_tls"}'
    wait_for("two security events", lambda: served.scrape().get(event) == 2)

    m = served.scrape()
    assert m["kenshin_units_connected"] == 1
    assert m["kenshin_messages_received_total"] == 8
    assert m["kenshin_messages_committed_total"] == 8
    assert m["kenshin_commit_failures_total"] == 0
    assert m["kenshin_commit_queue_messages"] == 0
    assert m["kenshin_readings_received_total"] == 15 + 3 + 1
    assert m["kenshin_readings_stored_total"] == 15
    assert m["kenshin_readings_duplicate_total"] == 3
    assert m["kenshin_readings_conflicting_total"] == 1
    assert m["kenshin_dead_letters_total"] == 1
    assert m["kenshin_dead_letters_kept"] == 1
    assert m["kenshin_meters_discovered_total"] == 1
    # Every commit is timed: as many latencies as batches, each under the last bucket.
    batches_done = m["kenshin_commit_batches_total"]
    assert 1 <= batches_done <= 8
    assert m["kenshin_commit_seconds_count"] == batches_done
    assert m['kenshin_commit_seconds_bucket{le="+Inf"}'] == batches_done
    assert 0 < m["kenshin_commit_seconds_sum"] < batches_done * 10
    free = shutil.disk_usage(served.site).free
    assert abs(m["kenshin_disk_free_bytes"] - free) < 0.01 * free
    c.disconnect()
    c.loop_stop()
    wait_for("the unit gone", lambda: served.scrape()["kenshin_units_connected"] == 0)

    assert served.stop().endswith("stopped\n")
    store = SqliteStore(served.site / "kenshin.db")
    try:
        kept = dict(store.readings.readings_between(["M-U-1"], 0, 2**40))["M-U-1"]
        assert {r.t: r.fwd for r in kept} == first
        assert [c.new_fwd for c in store.readings.list_conflicts()] == [999]
        assert store.dead_letters.count_dead_letters() == 1
    finally:
        store.close()


def test_export_counters_agree_with_the_files_written(served: Served) -> None:
    m = served.scrape()
    written = sorted((served.site / "outbox" / "C-001").glob("*.csv"))
    assert len(written) >= 1
    assert m['kenshin_export_files_total{outcome="written"}'] == len(written)
    assert m['kenshin_export_files_total{outcome="unchanged"}'] == 0
    assert m['kenshin_export_runs_total{result="failed"}'] == 0
    assert m["kenshin_export_customer_failures_total"] == 0
    assert time.time() - m["kenshin_export_last_completed_timestamp_seconds"] < 60


def test_downloads_are_counted_once_each_even_within_one_second() -> None:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "Acme"))
    deliveries = store.deliveries
    tally = DownloadTally(deliveries, since=1000)

    def download(protocol: str, size: int, at: int) -> None:
        deliveries.add_receipt(Receipt("C-1", "f.csv", 1, size, protocol, "127.0.0.1:1", at))

    download("sftp", 5, 999)  # before the server started: not its download
    download("ftps", 10, 1000)
    tally.update()
    assert (tally.files, tally.bytes) == ({"ftps": 1}, {"ftps": 10})
    download("ftps", 20, 1000)  # the same second as the last one seen
    download("sftp", 7, 1001)
    tally.update()
    tally.update()  # nothing new: nothing more
    assert (tally.files, tally.bytes) == ({"ftps": 2, "sftp": 1}, {"ftps": 30, "sftp": 7})


def test_downloads_and_failed_logins_of_the_file_servers_are_counted(tmp_path: Path) -> None:
    site = make_delivery_site(tmp_path)
    files = publish_files(site)
    env = {f"KENSHIN_{part}__HOST": "127.0.0.1" for part in ("MQTT", "FTPS", "SFTP")}
    env |= {f"KENSHIN_{part}__PORT": "0" for part in ("MQTT", "FTPS", "SFTP", "HTTP")}
    env |= {"KENSHIN_FTPS__PASSIVE_PORTS": "41000-41999"}
    env |= {"KENSHIN_DELIVERIES__FAILED_LOGIN_DELAY_MS": "50"}
    process, ports = serve_process(site, env, 4)
    files_served = FilesServed(site, process, ports["FTPS"], ports["SFTP"], files)
    served = Served(site, process, ports["MQTT over TLS"], ports[HTTP])
    try:
        with session(files_served) as ftp:
            assert fetch(ftp, DAY_FILE) == files[DAY_FILE]
            assert fetch(ftp, "C-001_big.csv") == files["C-001_big.csv"]
        assert with_sftp(files_served, lambda sftp: read(sftp, DAY_FILE)) == files[DAY_FILE]
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=files_served.ca))
        ftp.connect("localhost", files_served.ftps_port, timeout=10)
        with pytest.raises(ftplib.error_perm):
            ftp.login("C-001", "not the password")
        ftp.close()
        wait_for("3 receipts", lambda: len(files_served.receipts(at_least=3)) == 3)
        m = served.scrape()
        assert m['kenshin_downloads_total{protocol="ftps"}'] == 2
        assert m['kenshin_downloads_total{protocol="sftp"}'] == 1
        ftps_bytes = len(files[DAY_FILE]) + len(files["C-001_big.csv"])
        assert m['kenshin_download_bytes_total{protocol="ftps"}'] == ftps_bytes
        assert m['kenshin_download_bytes_total{protocol="sftp"}'] == len(files[DAY_FILE])
        assert m['kenshin_security_events_total{kind="login_failed"}'] == 1
        assert served.scrape()['kenshin_downloads_total{protocol="ftps"}'] == 2  # still
    finally:
        files_served.stop()


def test_the_page_shows_the_alert_notifications_waiting_by_channel(tmp_path: Path) -> None:
    store = MemoryStore()
    alert = Alert("disk:/data", Severity.CRITICAL, "Disk low", "Low.", None, 0)
    note = Notification(Event.FIRING, alert, 0)
    store.alerts.save_round([], [], [("mail", note), ("mail", note), ("hook", note)])
    page = ServerMetrics(store, tmp_path, started_at=0).render(LiveCounts(0, CommitStats(), 0))
    samples = {
        (s.name, s.labels.get("channel")): s.value
        for family in text_string_to_metric_families(page.decode())
        for s in family.samples
    }
    assert samples[("kenshin_alert_queue_notifications", "mail")] == 2
    assert samples[("kenshin_alert_queue_notifications", "hook")] == 1
