"""The FTPS server of ``kenshin serve``: customers collect their files (pyftpdlib).

Explicit TLS: ``AUTH TLS`` before ``USER``/``PASS``, ``PROT P`` before any data
connection, TLS 1.2 or newer with AEAD suites only, and a data connection must
resume the TLS session of its control connection (``entrypoints.ftps_tls``).
Passive mode on a configured port range, announcing a configured address behind
NAT; active mode (``PORT``/``EPRT``) refused unless turned on, and even then only
to the client's own address and a port of 1024 or more. Plain FTP only when
``ftps.allow_plain`` is on (a warning at start).

Connections are limited: ``ftps.max_connections`` at once, of which
``ftps.max_connections_per_address`` from one address; one that does not log in
within ``ftps.login_timeout_s`` is closed, and those not logged in hold at most
half of the slots, and a few from one address (``entrypoints.ftps_slots``).

Each connection has a thread of its own (pyftpdlib's ThreadedFTPServer), so a
password hash or a database call holds up nobody else. The server runs in a thread
of its own too; ``FtpsServer.stop`` closes every connection.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

from kenshin.domain.accounts import Receipt
from kenshin.domain.model import CUSTOMER_ID
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.entrypoints.ftps_files import HIDDEN_FACTS, JailFS
from kenshin.entrypoints.ftps_slots import WAITING_PER_ADDRESS, LoginSlots
from kenshin.entrypoints.ftps_tls import FtpsTls, SessionBoundDataHandler
from kenshin.ports import Deliveries
from kenshin.services.accounts import Logins
from kenshin.services.receipts import record_download
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

READ_PERMS = "elr"  # change folder, list, retrieve: pyftpdlib's names
WRITE_COMMANDS = frozenset(
    (
        "STOR",
        "STOU",
        "APPE",
        "DELE",
        "MKD",
        "XMKD",
        "RMD",
        "XRMD",
        "RNFR",
        "RNTO",
        "SITE CHMOD",
        "MFMT",
        "ALLO",
    )
)


@dataclass(frozen=True)
class FtpsSettings:
    """What the FTPS server needs from the settings."""

    host: str
    port: int
    certificate: Path
    key: Path
    passive_ports: range
    announce_address: str | None = None
    active_mode: bool = False
    allow_plain: bool = False
    idle_timeout_s: int = 300
    max_connections: int = 256
    max_connections_per_address: int = 10
    login_timeout_s: int = 30


class CustomerAuthorizer:
    """pyftpdlib's authorizer: customers log in with their password, each to its jail."""

    def __init__(self, logins: Logins, outbox: Path) -> None:
        self._logins = logins
        self._outbox = outbox

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:  # noqa: ANN401
        """AuthenticationFailed unless the customer may log in with this password; the
        handler answers it after the delay the failures call for (without blocking)."""
        if not self._logins.password(username, password, handler.remote_ip, "ftps"):
            handler.auth_failed_timeout = self._logins.failure_delay(username, handler.remote_ip)
            raise AuthenticationFailed("Authentication failed.")

    def get_home_dir(self, username: str) -> str:
        """The customer's folder of the outbox."""
        return str(self._outbox / username)

    def has_user(self, username: str) -> bool:
        """Whether a customer of that name may be asked for (its password decides)."""
        return bool(CUSTOMER_ID.fullmatch(username))

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        """Only reading: change folder, list, retrieve."""
        return perm in READ_PERMS

    def get_perms(self, username: str) -> str:
        """The permissions of every customer."""
        return READ_PERMS

    def get_msg_login(self, username: str) -> str:
        """The greeting after a login."""
        return "Logged in: your files are read-only."

    def get_msg_quit(self, username: str) -> str:
        """The goodbye."""
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        """Files are read as the server's own user."""

    def terminate_impersonation(self, username: str) -> None:
        """Nothing to undo."""


class CustomerHandler(TLS_FTPHandler):  # type: ignore[misc]  # pyftpdlib has no type hints
    """A customer's FTPS session: refusals reported, downloads receipted."""

    deliveries: Deliveries
    security: SecurityLog
    login_slots: LoginSlots
    tls: FtpsTls
    active_mode = False
    abstracted_fs = JailFS
    dtp_handler = SessionBoundDataHandler
    permit_foreign_addresses = False
    permit_privileged_ports = False
    max_login_attempts = 3
    banner = "kenshin FTPS: AUTH TLS, then log in."

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:  # noqa: ANN401
        super().__init__(conn, server, ioloop)
        # MLST facts offered: the owner and group left out.
        facts: list[str] = getattr(self, "_available_facts", [])
        self._available_facts = [f for f in facts if f not in HIDDEN_FACTS]

    def handle(self) -> None:
        """Greet a new connection, which now waits for its login (in a login slot), or
        refuse it when its address already has as many waiting as it may."""
        if self.login_slots.admit(id(self), self.remote_ip, self.socket):
            super().handle()
        else:
            self.respond_w_warning("421 Too many connections not logged in yet.")
            self.close()

    def on_login(self, username: str) -> None:
        """A logged-in session no longer holds a login slot."""
        self.login_slots.release(id(self))

    def close(self) -> None:
        """Close the connection and free its login slot."""
        self.login_slots.release(id(self))
        super().close()

    def ftp_AUTH(self, line: str) -> None:
        """Secure the control connection with a TLS context of its own: only its data
        connections can resume its sessions."""
        if not isinstance(self.socket, SSL.Connection):
            self.ssl_context = self.tls.context()
        super().ftp_AUTH(line)

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Refuse every change, report a login tried without TLS, refuse active mode unless
        turned on."""
        if cmd in ("USER", "PASS") and self.tls_control_required and not self._ssl_established:
            self.security.record(
                SecurityEventKind.LOGIN_FAILED, None, self.remote_ip, "ftps: login without TLS"
            )
        if cmd in WRITE_COMMANDS and self.authenticated:
            self.respond("550 Permission denied: the files are read-only.")
            return
        if cmd in ("PORT", "EPRT") and not self.active_mode:
            self.respond("502 Active mode is turned off: use passive mode (PASV or EPSV).")
            return
        super().process_command(cmd, *args, **kwargs)

    def respond_w_warning(self, resp: str) -> None:
        """Report refused active-mode targets (another address, a privileged port)."""
        if resp.startswith("501 ") and ("foreign address" in resp or "privileged" in resp):
            self.security.record(
                SecurityEventKind.FTP_BOUNCE_REFUSED, self.username, self.remote_ip, resp[4:]
            )
        super().respond_w_warning(resp)

    def log_transfer(
        self, cmd: str, filename: str, receive: bool, completed: bool, elapsed: float, bytes: int
    ) -> None:
        """Keep the bytes a transfer sent, for its receipt (pyftpdlib logs it just before)."""
        self._transferred = bytes
        super().log_transfer(cmd, filename, receive, completed, elapsed, bytes)

    def on_file_sent(self, file: str) -> None:
        """Record the receipt of a completed download."""
        fs: JailFS = self.fs
        path = fs.jail_path(file)
        size = getattr(self, "_transferred", 0)
        receipt = Receipt(
            self.username,
            path.virtual.lstrip("/"),
            fs.jail.revision_of(path),
            size,
            "ftps" if self._ssl_established else "ftp",
            self.remote_ip,
            int(time.time()),
        )
        record_download(self.deliveries, receipt)


class _Server(ThreadedFTPServer):  # type: ignore[misc]  # pyftpdlib has no type hints
    def __init__(self, *args: Any) -> None:  # noqa: ANN401
        super().__init__(*args)
        self._exit = threading.Event()  # pyftpdlib shares one among all servers


class FtpsServer:
    """The FTPS listener, served in a thread of its own."""

    def __init__(
        self,
        settings: FtpsSettings,
        logins: Logins,
        deliveries: Deliveries,
        security: SecurityLog,
        outbox: Path,
    ) -> None:
        slots = LoginSlots(
            settings.max_connections // 2,
            settings.login_timeout_s,
            per_address=min(WAITING_PER_ADDRESS, settings.max_connections_per_address),
        )
        tls = FtpsTls(settings.certificate, settings.key)
        handler = type(
            "ConfiguredCustomerHandler",
            (CustomerHandler,),
            {
                "authorizer": CustomerAuthorizer(logins, outbox),
                "deliveries": deliveries,
                "security": security,
                "login_slots": slots,
                "tls": tls,
                "ssl_context": tls.context(),  # until AUTH TLS gives a connection its own
                "tls_control_required": not settings.allow_plain,
                "tls_data_required": not settings.allow_plain,
                "passive_ports": list(settings.passive_ports),
                "masquerade_address": settings.announce_address or None,
                "active_mode": settings.active_mode,
                "timeout": settings.idle_timeout_s,
            },
        )
        self._server = _Server((settings.host, settings.port), handler, IOLoop())
        self._server.max_cons = settings.max_connections
        self._server.max_cons_per_ip = settings.max_connections_per_address
        self._server.ioloop.call_every(min(1.0, settings.login_timeout_s / 4), slots.expire)
        self.port: int = self._server.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ftps", daemon=True)
        if settings.allow_plain:
            log.warning(
                "FTPS: plain FTP is allowed (ftps.allow_plain): passwords and files cross the"
                " network unencrypted; only for an already private network"
            )

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether it still serves (its thread did not end)."""
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        self._server.close_all()

    def stop(self) -> None:
        """Stop accepting, close every connection and wait for the thread."""
        self._stop.set()
        self._thread.join()
