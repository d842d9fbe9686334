"""Real servers for the alert channels: aiosmtpd as the mail server, a local HTTP server
standing in for Slack and the webhook; and the stores the alert tests run against."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from conftest import postgres_url
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.sqlite import SqliteStore
from kenshin.ports import Store

USER, PASSWORD = "alerts@example.org", "s3cret pass"

STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda folder: MemoryStore(),
    "sqlite": lambda folder: SqliteStore(folder / "kenshin.db"),
    "postgres": lambda folder: PostgresStore(postgres_url(folder), create=True),
}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.integration) if name == "postgres" else name
        for name in sorted(STORES)
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each backend in turn (PostgreSQL in a database of the run's own)."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_database")
    opened = STORES[request.param](tmp_path)
    yield opened
    opened.close()


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Tls:
    """A CA file clients trust, and a server context presenting a certificate it issued."""

    ca_file: str
    server: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A CA and a server certificate for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("ca")
    ca = LocalCertificateAuthority.create(folder)
    ca.issue_server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return Tls(str(folder / "ca.pem"), context)


class Mailbox:
    """aiosmtpd's handler: keeps every message it accepts, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.received = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept and keep the message."""
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.received:
            self.messages.append((envelope, parsed))
            self.received.notify_all()
        return "250 OK"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    """Accept USER with PASSWORD only."""
    ok = (
        isinstance(data, LoginPassword)
        and data.login.decode() == USER
        and data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class MailServer:
    """A running aiosmtpd server and what it received."""

    port: int
    mailbox: Mailbox
    controller: Controller

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages received, in order."""
        return [m for _, m in self.mailbox.messages]


@pytest.fixture
def mail_server(request: pytest.FixtureRequest, tls: Tls) -> Iterator[MailServer]:
    """aiosmtpd on 127.0.0.1; ``indirect`` param: 'plain', 'starttls' (login required,
    only over TLS) or 'tls' (implicit TLS)."""
    mode = getattr(request, "param", "starttls")
    mailbox = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        kwargs = {
            "tls_context": tls.server,
            "require_starttls": True,
            "authenticator": authenticate,
            "auth_required": True,
        }
    elif mode == "tls":  # aiosmtpd takes a login only after STARTTLS: none here
        kwargs = {"ssl_context": tls.server}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    yield MailServer(port, mailbox, controller)
    controller.stop()


@dataclass
class HttpSink:
    """A local HTTP server that keeps the JSON posted to it; ``status`` is what it answers."""

    port: int
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The JSON documents posted to ``path``, in order."""
        return [b for p, b in self.posts if p == path]


def _handler(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            document = json.loads(self.rfile.read(length))
            status = sink.status
            if status == 200:
                sink.posts.append((self.path, document))
            answer = b"ok" if status == 200 else b"no_service"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    """A local HTTP server standing in for Slack and the webhook."""
    sink = HttpSink(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    sink.port = server.server_address[1]
    sink.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()
    thread.join()
