"""The SFTP server of ``kenshin serve``: customers collect their files (asyncssh).

Password and public-key logins, nothing but the ``sftp`` subsystem: no shell, no
exec, no port, agent or X11 forwarding, no SCP. Each customer sees its jail, read
only (``entrypoints.sftp_files``); asyncssh's own chroot would follow symbolic links
out of the root, so it is not used. The rules of logins (allow-list, lockout, the
delay of a failure) are those of ``services.accounts``, shared with FTPS; a registered
key is never refused for failed logins.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncssh

from kenshin.entrypoints.sftp_files import JailSFTPServer
from kenshin.ports import Deliveries
from kenshin.services.accounts import Logins

log = logging.getLogger(__name__)

PROTOCOL = "sftp"


@dataclass(frozen=True)
class SftpSettings:
    """What the SFTP server needs from the settings."""

    host: str
    port: int
    host_key: Path
    login_timeout_s: int = 60


class CustomerSSHServer(asyncssh.SSHServer):
    """One SSH connection: the customer's login, checked by ``Logins``."""

    def __init__(self, logins: Logins, connections: set[CustomerSSHServer]) -> None:
        self._logins = logins
        self._connections = connections
        self._conn: asyncssh.SSHServerConnection | None = None
        self._address = "unknown"
        self._customer: str | None = None
        self._refused = False
        self._tried_password = False
        self._authenticated = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Remember the connection and the client's address."""
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self._address = str(peer[0]) if peer else "unknown"
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """A login that tried a key (but no password) and failed counts as one failure."""
        self._connections.discard(self)
        if self._customer and not (self._authenticated or self._refused or self._tried_password):
            self._logins.failed(self._customer, self._address, PROTOCOL, "no key accepted")

    def close(self) -> None:
        """Close the connection (the server stops)."""
        if self._conn is not None:
            self._conn.close()

    def begin_auth(self, username: str) -> bool:
        """Load the customer's keys if it is one that may log in from the address (failed
        logins do not matter to keys); always ask for auth."""
        self._customer = username
        account = self._logins.admitted(username, self._address, PROTOCOL)
        if account is False:
            self._refused = True
        elif account is not None and account.ssh_keys and self._conn is not None:
            keys = asyncssh.import_authorized_keys("\n".join(account.ssh_keys))
            self._conn.set_authorized_keys(keys)
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are one way in."""
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        """Check the password off the event loop; a failure is answered after the delay its
        failures call for (a sleep of this connection only)."""
        self._tried_password = True
        ok = not self._refused and await asyncio.to_thread(
            self._logins.password, username, password, self._address, PROTOCOL
        )
        if not ok:
            await asyncio.sleep(self._logins.failure_delay(username, self._address))
        return ok

    def public_key_auth_supported(self) -> bool:
        """Registered public keys are the other (asyncssh checks them against the account's)."""
        return not self._refused

    def auth_completed(self) -> None:
        """The customer is in."""
        self._authenticated = True
        log.info("%s logged in over SFTP from %s", self._customer, self._address)


class SftpServer:
    """The SFTP listener on the running event loop."""

    def __init__(
        self, settings: SftpSettings, logins: Logins, deliveries: Deliveries, outbox: Path
    ) -> None:
        self._settings = settings
        self._logins = logins
        self._deliveries = deliveries
        self._outbox = outbox
        self._connections: set[CustomerSSHServer] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.port = 0

    async def start(self) -> None:
        """Listen."""
        settings = self._settings
        self._acceptor = await asyncssh.listen(
            settings.host,
            settings.port,
            server_host_keys=[str(settings.host_key)],
            server_factory=partial(
                CustomerSSHServer,
                self._logins,
                self._connections,
            ),
            sftp_factory=partial(JailSFTPServer, outbox=self._outbox, deliveries=self._deliveries),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
            login_timeout=settings.login_timeout_s,
            keepalive_interval=60,
        )
        self.port = self._acceptor.get_port()

    @property
    def running(self) -> bool:
        """Whether it still accepts connections."""
        return self._acceptor is not None and bool(self._acceptor.is_serving())

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        for connection in list(self._connections):
            connection.close()
