"""The SFTP server of ``kenshin serve``: customers collect their files (asyncssh).

Password and public-key logins, nothing but the ``sftp`` subsystem: no shell, no
exec, no port, agent or X11 forwarding, no SCP. Each customer sees its jail, read
only (``entrypoints.sftp_files``); asyncssh's own chroot would follow symbolic links
out of the root, so it is not used. The rules of logins (allow-list, lockout, the
delay of a failure) are those of ``services.accounts``, shared with FTPS; a registered
key is never refused for failed logins.

Transport: key exchange by elliptic curves (or finite-field groups of 2048 bits or
more, never group exchange, which would hand a client a 1024-bit group), AEAD or
CTR ciphers, SHA-2 MACs, no SHA-1 anywhere; new connections from one address are
limited (``sftp.max_new_connections_per_minute``), a flood is closed before the
server says a word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import asyncssh

from kenshin.entrypoints.address_rate import AddressRate
from kenshin.entrypoints.sftp_files import JailSFTPServer
from kenshin.errors import ConfigError
from kenshin.ports import Deliveries
from kenshin.services.accounts import PASSWORD_CHECKS, Logins

log = logging.getLogger(__name__)

PROTOCOL = "sftp"
KEX_ALGS = (
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "curve448-sha512",
    "ecdh-sha2-nistp521",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)
ENCRYPTION_ALGS = (
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
MAC_ALGS = (  # only used with the CTR ciphers; the AEAD ones carry their own
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "umac-128@openssh.com",
)
SIGNATURE_ALGS = (  # of the host key and of customers' keys: ssh-rsa (SHA-1) is not one
    "ssh-ed25519",
    "ssh-ed448",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)


@dataclass(frozen=True)
class SftpSettings:
    """What the SFTP server needs from the settings."""

    host: str
    port: int
    host_key: Path
    login_timeout_s: int = 60
    max_new_connections_per_minute: int = 30


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
        ok = not self._refused and await asyncio.get_running_loop().run_in_executor(
            PASSWORD_CHECKS, self._logins.password, username, password, self._address, PROTOCOL
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


def throttled(rate: AddressRate, factory: Callable[[], CustomerSSHServer]) -> Callable[[], Any]:
    """A server factory whose connections are closed at once, unanswered, when their
    address opened too many new ones lately."""

    def make() -> CustomerSSHServer:
        server = factory()
        made = server.connection_made

        def connection_made(conn: asyncssh.SSHServerConnection) -> None:
            peer = conn.get_extra_info("peername")
            if not rate.admit(str(peer[0]) if peer else "unknown"):
                conn.abort()  # before the server's version line: nothing is sent
                return
            made(conn)

        server.connection_made = connection_made  # type: ignore[method-assign]
        return server

    return make


def host_key(path: Path) -> asyncssh.SSHKey:
    """The server's host key read from ``path``; ConfigError naming ``sftp.host_key``."""
    try:
        return asyncssh.read_private_key(path)
    except (asyncssh.KeyImportError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"sftp.host_key (KENSHIN_SFTP__HOST_KEY): {path} is not an SSH private key"
            f" ({reason}): point sftp.host_key at the server's host key, an unencrypted"
            " private key in OpenSSH or PEM format (kenshin init makes ssh/host_key); a new"
            " key means customers must accept it again"
        ) from exc


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
        self.fingerprint = ""  # the host key's, as OpenSSH prints it, once started

    async def start(self) -> None:
        """Listen; ConfigError naming ``sftp.host_key`` if its file is no host key."""
        settings = self._settings
        key = host_key(settings.host_key)
        self.fingerprint = key.get_fingerprint("sha256")
        self._acceptor = await asyncssh.listen(
            settings.host,
            settings.port,
            server_host_keys=[key],
            server_factory=throttled(
                AddressRate(settings.max_new_connections_per_minute),
                partial(
                    CustomerSSHServer,
                    self._logins,
                    self._connections,
                ),
            ),
            sftp_factory=partial(JailSFTPServer, outbox=self._outbox, deliveries=self._deliveries),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
            login_timeout=settings.login_timeout_s,
            kex_algs=list(KEX_ALGS),
            encryption_algs=list(ENCRYPTION_ALGS),
            mac_algs=list(MAC_ALGS),
            signature_algs=list(SIGNATURE_ALGS),
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
