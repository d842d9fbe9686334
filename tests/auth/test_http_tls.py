"""The HTTP side: the console refused in the clear beyond this machine, and served over
TLS (1.2 or later) with the session cookie marked Secure."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.bootstrap import App
from kenshin.config import HttpConfig, Settings
from kenshin.domain.operators import Role
from kenshin.entrypoints.api.app import make_api
from kenshin.entrypoints.api.context import ApiContext
from kenshin.entrypoints.http import HealthApp, HttpServer, HttpSettings
from kenshin.entrypoints.http_tls import tls_files
from kenshin.errors import ConfigError
from kenshin.services.operators import add_operator, keeping_of

from .conftest import CLI, PASSWORD


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_the_console_beyond_this_machine_without_tls_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=r"http\.host: .*http\.tls_certificate and http\.tls_key"):
        tls_files(HttpConfig(host=host), Path())


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "localhost"])
def test_the_console_on_this_machine_may_be_plain_http(host: str) -> None:
    assert tls_files(HttpConfig(host=host), Path()) is None
    assert tls_files(HttpConfig(host="0.0.0.0", console=False), Path()) is None


def test_half_a_tls_pair_is_refused() -> None:
    with pytest.raises(ConfigError, match="set both, or neither"):
        tls_files(HttpConfig(tls_certificate="pki/server.pem"), Path())


def self_signed(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "web.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "web.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.mark.integration
def test_the_console_is_served_over_tls_with_secure_cookies(tmp_path: Path) -> None:
    self_signed(tmp_path)
    config = HttpConfig(host="0.0.0.0", port=0, tls_certificate="web.pem", tls_key="web.key")
    tls = tls_files(config, tmp_path)
    assert tls is not None
    store = MemoryStore()
    app = App(Settings(), tmp_path, store, LocalOutbox(tmp_path / "outbox"))
    add_operator(keeping_of(store), CLI, "val", Role.VIEWER, PASSWORD)
    api = make_api(ApiContext(app, secure_cookies=True))

    async def metrics() -> bytes:
        return b""

    server = HttpServer(HttpSettings("127.0.0.1", 0, tls), HealthApp(metrics, {}, api))
    client = ssl.create_default_context(cafile=tmp_path / "web.pem")

    def sign_in(port: int) -> tuple[int, str, dict[str, object]]:
        connection = http.client.HTTPSConnection("localhost", port, context=client, timeout=10)
        body = json.dumps({"name": "val", "password": PASSWORD})
        connection.request("POST", "/api/v1/session", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        found = (answer.status, answer.getheader("set-cookie") or "", json.loads(answer.read()))
        connection.close()
        return found

    async def run() -> tuple[int, str, dict[str, object]]:
        listener = await server.start()
        try:
            return await asyncio.to_thread(sign_in, listener.port)
        finally:
            await server.stop()

    status, cookie, state = asyncio.run(run())
    assert (status, state["name"]) == (200, "val")
    assert "kenshin_session=" in cookie
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


def test_a_worker_with_the_console_beyond_this_machine_without_tls_does_not_start(
    tmp_path: Path,
) -> None:
    from kenshin.entrypoints.worker import work

    settings = Settings(http=HttpConfig(host="0.0.0.0"))
    app = App(settings, tmp_path, MemoryStore(), LocalOutbox(tmp_path / "outbox"))
    with pytest.raises(ConfigError, match=r"http\.host: .*beyond this machine, without TLS"):
        asyncio.run(work(app, "w1"))
