"""``kenshin serve`` as a process with its HTTP side on a free port, and ways to ask it."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import kenshin, make_site, serve_process, wait_for

HTTP = "HTTP (metrics, health)"
MQTT = "MQTT over TLS"


@dataclass
class Served:
    """A site with unit U-1 (certificates in site/certs) and ``kenshin serve`` on it."""

    site: Path
    process: subprocess.Popen[str]
    mqtt_port: int
    http_port: int

    def get(self, path: str, method: str = "GET") -> tuple[int, str, bytes]:
        """Status, content type and body of a request to the HTTP side."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.getheader("content-type", ""), response.read()
        finally:
            conn.close()

    def json(self, path: str) -> tuple[int, object]:
        """Status and JSON body of a GET."""
        status, content_type, body = self.get(path)
        assert content_type == "application/json"
        return status, json.loads(body)

    def scrape(self) -> dict[str, float]:
        """The samples of /metrics as Prometheus' own parser reads them, by name and labels."""
        status, content_type, body = self.get("/metrics")
        assert status == 200, body
        assert content_type.startswith("text/plain; version=0.0.4")
        return {
            sample.name + _labels(sample.labels): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }

    def stop(self) -> str:
        """SIGTERM; what it wrote to standard output."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        return out


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The server on free ports of 127.0.0.1, its first export run done."""
    site = make_site(tmp_path, "site")
    added = kenshin(
        site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(site / "certs")
    )
    assert added.exit_code == 0, added.output
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1", "KENSHIN_HTTP__PORT": "0"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, env, 2)
    running = Served(site, process, ports[MQTT], ports[HTTP])
    key = 'kenshin_export_runs_total{result="completed"}'
    wait_for("the export at start", lambda: running.scrape()[key] == 1)
    yield running
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=10)
