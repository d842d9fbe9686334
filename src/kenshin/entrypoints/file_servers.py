"""The file servers of ``kenshin serve``: FTPS and SFTP, started and stopped together.

Both share the login rules and counts (``services.accounts.Logins``), the receipts
and the security log; each is turned off by its ``enabled`` setting. While they run,
operators' unlock requests (``kenshin customers unlock``) are applied within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kenshin.bootstrap import App
from kenshin.entrypoints.ftps import FtpsServer, FtpsSettings
from kenshin.entrypoints.listeners import Listener, cannot_listen
from kenshin.entrypoints.sftp import SftpServer, SftpSettings
from kenshin.errors import ConfigError, StoreError
from kenshin.services.accounts import Logins
from kenshin.services.login_guard import LoginPolicy, settings_policy
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

UNLOCK_POLL_S = 1.0  # how often the store is asked for operators' unlock requests


def login_policy(app: App) -> LoginPolicy:
    """The login rules of the settings."""
    return settings_policy(app.settings.deliveries)


class FileServers:
    """The FTPS and SFTP servers the settings turn on."""

    def __init__(self, app: App, security: SecurityLog) -> None:
        self._app = app
        policy = login_policy(app)
        self.logins = Logins(app.store.deliveries, security, policy)
        self._security = security
        self._ftps: FtpsServer | None = None
        self._sftp: SftpServer | None = None
        self._unlocks: asyncio.Task[None] | None = None

    async def start(self) -> list[Listener]:
        """Start the servers turned on; their listeners. ConfigError, with both stopped,
        if one cannot listen."""
        _check_outbox(self._app)
        try:
            listeners = await self._start()
        except BaseException:
            await self.stop()
            raise
        if listeners:
            self._unlocks = asyncio.create_task(self._apply_unlocks(), name="unlocks")
        return listeners

    async def _apply_unlocks(self) -> None:
        """Apply operators' unlock requests as they come, off the event loop."""
        while True:
            try:
                await asyncio.to_thread(self.logins.apply_unlocks)
            except StoreError as exc:
                log.warning("unlock requests not applied yet: %s", exc)
            await asyncio.sleep(UNLOCK_POLL_S)

    async def _start(self) -> list[Listener]:
        app, listeners = self._app, []
        ftps, sftp = app.settings.ftps, app.settings.sftp
        if ftps.enabled:
            try:
                self._ftps = FtpsServer(
                    FtpsSettings(
                        ftps.host,
                        ftps.port,
                        *app.ftps_certificate,
                        ftps.passive_range,
                        ftps.announce_address or None,
                        ftps.active_mode,
                        ftps.allow_plain,
                        ftps.idle_timeout_s,
                        max_connections=ftps.max_connections,
                        max_connections_per_address=ftps.max_connections_per_address,
                        login_timeout_s=ftps.login_timeout_s,
                    ),
                    self.logins,
                    app.store.deliveries,
                    self._security,
                    app.outbox_dir,
                )
            except OSError as exc:
                raise cannot_listen("ftps", ftps.host, ftps.port, exc) from exc
            self._ftps.start()
            protocol = "FTP (TLS optional)" if ftps.allow_plain else "FTPS"
            listeners.append(Listener(protocol, ftps.host, self._ftps.port))
        if sftp.enabled:
            if app.ensure_host_key():
                log.warning("created the SFTP host key %s: it is kept", app.host_key_path)
            self._sftp = SftpServer(
                SftpSettings(
                    sftp.host,
                    sftp.port,
                    app.host_key_path,
                    max_new_connections_per_minute=sftp.max_new_connections_per_minute,
                ),
                self.logins,
                app.store.deliveries,
                app.outbox_dir,
            )
            try:
                await self._sftp.start()
            except OSError as exc:
                raise cannot_listen("sftp", sftp.host, sftp.port, exc) from exc
            log.info("SFTP host key %s", self._sftp.fingerprint)
            listeners.append(Listener("SFTP", sftp.host, self._sftp.port))
        return listeners

    def not_running(self) -> list[tuple[str, str]]:
        """The servers started that no longer serve, each with what to look at."""
        down = []
        if self._ftps is not None and not self._ftps.running:
            down.append(("FTPS server", "it stopped serving (its thread ended)"))
        if self._sftp is not None and not self._sftp.running:
            down.append(("SFTP server", "it stopped accepting connections"))
        return down

    async def stop(self) -> None:
        """Stop both: no new connections, open ones closed."""
        if self._unlocks is not None:
            self._unlocks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._unlocks
            self._unlocks = None
        if self._sftp is not None:
            await self._sftp.stop()
            self._sftp = None
        if self._ftps is not None:
            await asyncio.to_thread(self._ftps.stop)
            self._ftps = None


def _check_outbox(app: App) -> None:
    """ConfigError if a file server is on and the outbox is an S3 bucket: they serve a
    folder."""
    settings = app.settings
    where = settings.export.s3_outbox
    if where is not None and (settings.ftps.enabled or settings.sftp.enabled):
        raise ConfigError(
            "ftps.enabled, sftp.enabled: the FTPS and SFTP servers serve the outbox folder,"
            f" and export.outbox is an S3 bucket ({where}): set both to false (customers"
            " collect their files from the bucket, docs/aws.md)"
        )
