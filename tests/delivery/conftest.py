"""``kenshin serve`` as a process with customers' files to collect, for real FTPS and SFTP clients.

Site: customers C-001 and C-002 with passwords and files in the outbox; a secret file
beside the outbox; in C-001's folder a symbolic link to the secret and one to C-002's
file, and a temporary (dot) file. The server runs on free ports of 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import kenshin, make_site, serve_process
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Receipt

PASSWORDS = {"C-001": "first customer's pass", "C-002": "second customer's pass"}
DAY_FILE = "C-001_20261001.csv"
OTHER_FILE = "C-002_20261001.csv"
SECRET = b"the operator's secret, outside every jail\n"
STDERR_NAME = "serve.stderr"


@dataclass
class Served:
    """A running ``kenshin serve`` and what its site holds."""

    site: Path
    process: subprocess.Popen[str]
    ftps_port: int
    sftp_port: int
    files: dict[str, bytes] = field(repr=False)  # C-001's published files
    http_port: int = 0  # when its listening lines named it (kenshin files)
    output: tuple[str, str] | None = field(default=None, repr=False)

    def stop(self) -> tuple[str, str]:
        """Stop the server as an operator would, check it stopped cleanly; its output."""
        if self.output is None:
            self.process.terminate()
            out, err = self.process.communicate(timeout=20)
            if err is None:  # not a pipe but a file (start_serve)
                err = (self.site / STDERR_NAME).read_text()
            assert self.process.returncode == 0, err
            assert out.endswith("stopped\n"), out
            self.output = (out, err)
        return self.output

    @property
    def ca(self) -> Path:
        """The CA certificate that signed the server's certificate."""
        return self.site / "pki" / "ca.pem"

    @property
    def host_key_line(self) -> str:
        """The server's host key as a known_hosts line for its SFTP port."""
        key = serialization.load_ssh_private_key(
            (self.site / "ssh" / "host_key").read_bytes(), password=None
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return f"[127.0.0.1]:{self.sftp_port} {public.decode()}"

    def receipts(self, customer: str | None = None, *, at_least: int = 0) -> list[Receipt]:
        """The receipts the server recorded; waits a little for ``at_least`` of them (the
        FTP server records a download just after its reply that the transfer is complete)."""
        deadline = time.monotonic() + 5
        while len(found := self._receipts(customer)) < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return found

    def _receipts(self, customer: str | None) -> list[Receipt]:
        store = SqliteStore(self.site / "kenshin.db")
        try:
            return store.deliveries.list_receipts(customer)
        finally:
            store.close()


def publish_files(site: Path) -> dict[str, bytes]:
    """C-001's and C-002's files, a secret outside the outbox, links and a temporary."""
    outbox = LocalOutbox(site / "outbox")
    csv = b"meter,date,00:30\r\nM-1,2026-11-26,0.125\r\n"
    big = os.urandom(8_000_000)  # more than socket buffers hold; many SFTP reads at once
    manifest = json.dumps({"file": DAY_FILE, "revision": 2}).encode()
    files = {DAY_FILE: csv, f"{DAY_FILE}.manifest.json": manifest, "C-001_big.csv": big}
    for name, content in files.items():
        outbox.publish("C-001", name, content)
    outbox.publish("C-002", OTHER_FILE, b"C-002's own data\r\n")
    (site / "secret.txt").write_bytes(SECRET)
    folder = site / "outbox" / "C-001"
    (folder / "link.csv").symlink_to(site / "secret.txt")
    (folder / "other.csv").symlink_to(site / "outbox" / "C-002" / OTHER_FILE)
    (folder / ".C-001_20261127.csv.0a1b2c.tmp").write_bytes(b"half a file")
    return files


def start_serve(site: Path, command: str = "serve", **env: str) -> Served:
    """``kenshin serve`` (or ``kenshin files``: ``command``) on free ports; returns once
    it listens."""
    environ = {
        "KENSHIN_MQTT__HOST": "127.0.0.1",
        "KENSHIN_MQTT__PORT": "0",
        "KENSHIN_FTPS__HOST": "127.0.0.1",
        "KENSHIN_FTPS__PORT": "0",
        "KENSHIN_FTPS__PASSIVE_PORTS": "41000-41999",
        "KENSHIN_SFTP__HOST": "127.0.0.1",
        "KENSHIN_SFTP__PORT": "0",
        "KENSHIN_DELIVERIES__FAILED_LOGIN_DELAY_MS": "20",  # doubled by each failure
        # The tests open many SFTP connections from 127.0.0.1 in a minute; a customer not.
        "KENSHIN_SFTP__MAX_NEW_CONNECTIONS_PER_MINUTE": "120",
        **env,
    }
    # To a file, not a pipe: a pipe nobody reads would fill up (a flood of connections
    # logs a line each) and stop the server.
    with (site / STDERR_NAME).open("w") as stderr:
        try:
            process, ports = serve_process(
                site, environ, 3, stderr=stderr.fileno(), command=command
            )
        except AssertionError as exc:
            raise AssertionError((site / STDERR_NAME).read_text()) from exc
    ftps = ports.get("FTPS") or ports["FTP (TLS optional)"]
    return Served(site, process, ftps, ports["SFTP"], {}, ports.get("HTTP (metrics, health)", 0))


def make_delivery_site(root: Path) -> Path:
    """A site with C-001 and C-002, their passwords set, their files published."""
    site = make_site(root, "site")
    assert kenshin(site, "customers", "add", "C-002", "--name", "Other").exit_code == 0
    for customer, password in PASSWORDS.items():
        typed = f"{password}\n{password}\n"
        result = kenshin(site, "customers", "credentials", customer, "--password", input_text=typed)
        assert result.exit_code == 0, result.output
    # The server exports at start; exported now, the files will not change under the tests.
    assert kenshin(site, "export", "--all").exit_code == 0
    return site


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the tests that lock nothing out."""
    site = make_delivery_site(tmp_path_factory.mktemp("delivery"))
    files = publish_files(site)
    running = start_serve(site)
    running.files = files
    yield running
    running.stop()
