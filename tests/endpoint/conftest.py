"""A running device endpoint on a real SQLite site, for tests with real MQTT clients."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kenshin.adapters.pki import PKI_FOLDER, LocalCertificateAuthority, server_ssl_context
from kenshin.adapters.sqlite import SqliteStore
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Device
from kenshin.entrypoints.mqtt.server import DeviceEndpoint, EndpointSettings
from kenshin.services.batching import CommitQueue
from kenshin.services.ingest import Ingest
from kenshin.services.security import SecurityLog


@dataclass
class Site:
    """A data folder with customer C-1, the endpoint serving it, and unit credentials."""

    folder: Path
    store: SqliteStore
    port: int
    security: SecurityLog
    endpoint: DeviceEndpoint
    loop: asyncio.AbstractEventLoop
    certs: Path = field(init=False)
    opened: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.certs = self.folder / "certs"
        self.certs.mkdir(exist_ok=True)

    @property
    def ca(self) -> Path:
        """The CA certificate a unit trusts."""
        return self.folder / PKI_FOLDER / "ca.pem"

    def unit(
        self,
        device: str,
        *,
        register: bool = True,
        valid_days: int = 365,
        issued: int | None = None,
        authority: LocalCertificateAuthority | None = None,
    ) -> tuple[Path, Path]:
        """A unit's certificate and key files (the device registered unless told not to)."""
        if register:
            self.store.registry.add_device(Device(device, "C-1"))
        authority = authority or LocalCertificateAuthority.load(self.folder / PKI_FOLDER)
        credentials = authority.issue_device(device, valid_days, now=issued)
        if register:
            self.store.certificates.add_certificate(
                device, credentials.serial, credentials.not_after, 0
            )
        cert, key = self.certs / f"{device}.pem", self.certs / f"{device}.key"
        cert.write_bytes(credentials.cert_pem)
        key.write_bytes(credentials.key_pem)
        return cert, key

    def tls(self, device: str | None, *, version: ssl.TLSVersion | None = None) -> ssl.SSLSocket:
        """A raw TLS connection to the endpoint as ``device`` (None: no client certificate)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if version is not None:
            with warnings.catch_warnings():  # an old version is deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = context.maximum_version = version
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if device is not None:
            context.load_cert_chain(self.certs / f"{device}.pem", self.certs / f"{device}.key")
        raw = socket.create_connection(("localhost", self.port), timeout=5)
        self.opened.append(raw)
        conn = context.wrap_socket(raw, server_hostname="localhost")
        self.opened.append(conn)
        return conn

    def call(self, coroutine: object) -> object:
        """Run a coroutine on the endpoint's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)  # type: ignore[arg-type]


@pytest.fixture
def endpoint_settings() -> EndpointSettings:
    """How the test endpoint listens: a module may define its own."""
    return EndpointSettings("127.0.0.1", 0, connect_timeout_s=5, revocation_check_s=0.5)


@pytest.fixture
def site(tmp_path: Path, endpoint_settings: EndpointSettings) -> Iterator[Site]:
    """The endpoint on a free port of 127.0.0.1, in a thread of its own."""
    init_project(tmp_path / "site")
    folder = tmp_path / "site"
    store = SqliteStore(folder / "kenshin.db")
    store.registry.add_customer(Customer("C-1", "Acme"))
    security = SecurityLog()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def main() -> None:
        commits = CommitQueue(Ingest(store, security), max_messages=500, window_s=0.02)
        endpoint = DeviceEndpoint(
            endpoint_settings,
            server_ssl_context(folder / PKI_FOLDER),
            store,
            commits,
            security,
        )
        runner = asyncio.create_task(commits.run())
        await endpoint.start()
        holder["endpoint"], holder["stop"] = endpoint, asyncio.Event()
        ready.set()
        await holder["stop"].wait()  # type: ignore[attr-defined]
        await endpoint.stop()
        await commits.close()
        await runner

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    endpoint = holder["endpoint"]
    assert isinstance(endpoint, DeviceEndpoint)
    running = Site(folder, store, endpoint.port, security, endpoint, loop)
    yield running
    for conn in running.opened:
        conn.close()
    loop.call_soon_threadsafe(holder["stop"].set)  # type: ignore[attr-defined]
    thread.join(30)
    loop.close()
    store.close()
