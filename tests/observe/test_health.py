"""/healthz and /readyz: alive while the process serves; ready only while the store takes
writes, the endpoint listens and the background tasks run, naming what is wrong."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import sqlite3
from pathlib import Path

import pytest

from conftest import kenshin, make_site, serve_process, wait_for
from kenshin.entrypoints import http as http_side
from kenshin.entrypoints.http import (
    HealthApp,
    HttpServer,
    HttpSettings,
    task_running,
)
from kenshin.errors import ConfigError

from .conftest import HTTP, MQTT, Served

pytestmark = pytest.mark.integration

READY = {"store": "ok", "endpoint": "ok", "ingest": "ok", "schedule": "ok"}


def test_healthz_and_readyz_answer_in_json(served: Served) -> None:
    assert served.json("/healthz") == (200, {"status": "alive"})
    assert served.json("/readyz") == (200, {"ready": True, "checks": READY})
    assert served.get("/healthz", "HEAD")[:2] == (200, "application/json")
    assert served.get("/readyz", "POST") == (
        405,
        "application/json",
        b'{"error": "POST is not allowed: only GET and HEAD"}\n',
    )
    # Any other path is the admin API's (and the console's).
    assert served.json("/admin") == (404, {"detail": "Not Found"})
    assert served.json("/api/v1/openapi.json")[0] == 200


def test_readyz_is_503_while_the_store_cannot_be_written_and_recovers(served: Served) -> None:
    holder = sqlite3.connect(served.site / "kenshin.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        status, body = served.json("/readyz")
        assert status == 503
        assert body == {
            "ready": False,
            "checks": {
                **READY,
                "store": "store not writable: SQLite store: taking the write lock failed:"
                " database is locked",
            },
        }
        assert served.json("/healthz") == (200, {"status": "alive"})  # alive all the same
        holder.execute("ROLLBACK")
        assert served.json("/readyz") == (200, {"ready": True, "checks": READY})
    finally:
        holder.close()


def test_readyz_names_a_background_task_that_stopped() -> None:
    async def main() -> tuple[int, object]:
        async def schedule() -> None:
            raise RuntimeError("the disk went away")

        async def forever() -> None:
            await asyncio.Event().wait()

        failed, running = asyncio.create_task(schedule()), asyncio.create_task(forever())
        await asyncio.sleep(0)
        app = HealthApp(
            lambda: asyncio.sleep(0, b""),
            {
                "ingest": task_running(running, "the commit of received messages"),
                "schedule": task_running(failed, "the export schedule"),
            },
        )
        server = HttpServer(HttpSettings("127.0.0.1", 0), app)
        listener = await server.start()
        try:
            return await asyncio.to_thread(get_json, listener.port, "/readyz")
        finally:
            await server.stop()
            running.cancel()

    assert asyncio.run(main()) == (
        503,
        {
            "ready": False,
            "checks": {
                "ingest": "ok",
                "schedule": "the export schedule has stopped: the disk went away",
            },
        },
    )


def test_a_port_in_use_stops_the_start_naming_the_setting() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        async def main() -> None:
            app = HealthApp(lambda: asyncio.sleep(0, b""), {})
            await HttpServer(HttpSettings("127.0.0.1", port), app).start()

        with pytest.raises(ConfigError) as raised:
            asyncio.run(main())
    assert str(raised.value) == (
        f"http: cannot listen on 127.0.0.1 port {port} (Address already in use):"
        " set http.port to a free port, or http.enabled = false"
    )


def test_the_http_side_can_be_turned_off(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, {**env, "KENSHIN_HTTP__ENABLED": "false"})
    served = Served(site, process, ports["MQTT over TLS"], 0)
    out = served.stop()
    assert HTTP not in out
    assert out.endswith("stopped\n")


def get_json(port: int, path: str) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def exchange(port: int, request: bytes) -> bytes:
    """What the server answers to ``request`` sent raw, until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


def test_a_malformed_chunked_body_gets_400_and_no_error_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chunked = b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    requests = [
        b"GET /healthz HTTP/1.1\r\n" + chunked + b"ZZ\r\nab\r\n0\r\n\r\n",
        b"GET /readyz HTTP/1.1\r\n" + chunked + b"5\r\nabcdefgh\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
    ]

    async def main() -> list[bytes]:
        server = HttpServer(
            HttpSettings("127.0.0.1", 0), HealthApp(lambda: asyncio.sleep(0, b""), {})
        )
        listener = await server.start()
        try:
            return [await asyncio.to_thread(exchange, listener.port, r) for r in requests]
        finally:
            await server.stop()

    with caplog.at_level("WARNING"):
        answers = asyncio.run(main())
    assert [a.split(b" ", 2)[:2] for a in answers] == [  # the reason phrase varies
        [b"HTTP/1.1", b"400"],
        [b"HTTP/1.1", b"400"],
        [b"HTTP/1.1", b"413"],
        [b"HTTP/1.1", b"200"],
    ]
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors == [], [r.getMessage() for r in errors]


def test_readyz_names_a_failing_export_until_an_export_by_hand_succeeds(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    (site / "outbox").mkdir(exist_ok=True)
    (site / "outbox" / "C-001").write_text("a file where the customer's folder goes")
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1", "KENSHIN_HTTP__PORT": "0"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    process, ports = serve_process(site, env, 2)
    served = Served(site, process, ports[MQTT], ports[HTTP])
    try:
        key = 'kenshin_export_runs_total{result="completed"}'
        wait_for("the export at start", lambda: served.scrape().get(key) == 1)
        status, body = served.json("/readyz")
        assert status == 503
        assert isinstance(body, dict)
        assert body["checks"]["schedule"].startswith("export failing: customer C-001 (")
        (site / "outbox" / "C-001").unlink()
        assert kenshin(site, "export", "--customer", "C-001").exit_code == 0
        ready = (200, {"ready": True, "checks": READY})
        wait_for("ready again", lambda: served.json("/readyz") == ready)
    finally:
        served.stop()


def test_a_body_announced_and_never_sent_gets_408_and_holds_nothing_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_side, "BODY_TIMEOUT_S", 0.5)
    stalled = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"

    async def main() -> bytes:
        app = HealthApp(lambda: asyncio.sleep(0, b""), {})
        server = HttpServer(HttpSettings("127.0.0.1", 0), app)
        listener = await server.start()
        try:
            with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as conn:
                conn.sendall(stalled)  # no shutdown: the client keeps the connection open
                return await asyncio.to_thread(conn.recv, 65536)
        finally:
            await server.stop()

    assert asyncio.run(main()).split(b" ", 2)[1] == b"408"
