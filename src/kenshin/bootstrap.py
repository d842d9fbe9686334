"""The one place that reads settings and picks adapters: real ones, or fakes for tests."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.pki import (
    CA_CERT,
    CA_KEY,
    HOSTNAME,
    PKI_FOLDER,
    SERVER_CERT,
    SERVER_KEY,
    SERVER_VALID_DAYS,
    Credentials,
    LocalCertificateAuthority,
    check_names,
)
from kenshin.adapters.pki_files import write_file
from kenshin.adapters.sqlite import SqliteStore
from kenshin.adapters.ssh_host_key import ensure_host_key
from kenshin.config import (
    CONFIG_NAME,
    DEFAULT_CONFIG_TEXT,
    Settings,
    StoreBackend,
    load_settings,
)
from kenshin.errors import ConfigError
from kenshin.ports import Outbox, Store
from kenshin.services.export import ExportSettings
from kenshin.services.ingest import Ingest
from kenshin.services.security import SecurityLog


@dataclass
class App:
    """The pieces a command or the server works with, built from the settings."""

    settings: Settings
    data_dir: Path
    store: Store
    outbox: Outbox

    @property
    def outbox_dir(self) -> Path:
        """Folder of the published customer files."""
        return self.data_dir / self.settings.export.outbox

    @property
    def export_settings(self) -> ExportSettings:
        """Export settings for the export service."""
        return ExportSettings(
            grace_hours=self.settings.export.grace_hours,
            retention_days=self.settings.export.retention_days,
            max_demand_w=self.settings.meters.max_demand_kw * 1000,
            vee=self.settings.vee.settings_for("") if self.settings.vee.enabled else None,
            vee_customers=(
                {c: self.settings.vee.settings_for(c) for c in self.settings.vee.customers}
                if self.settings.vee.enabled
                else {}
            ),
        )

    @property
    def future_tolerance_s(self) -> int:
        """How far ahead of its receipt a reading may be dated before it is quarantined."""
        return self.settings.vee.settings_for("").future_tolerance_s

    def ingest(self, security: SecurityLog | None = None) -> Ingest:
        """Ingest into the store, with the VEE defaults' limits for readings dated in the
        future and for units' clocks."""
        vee = self.settings.vee.settings_for("")
        return Ingest(
            self.store,
            security,
            future_tolerance_s=vee.future_tolerance_s,
            drift_limit_s=vee.drift_limit_s,
            drift_min_samples=vee.drift_min_samples,
        )

    @property
    def host_key_path(self) -> Path:
        """The SFTP server's host key."""
        return self.data_dir / self.settings.sftp.host_key

    @property
    def ftps_certificate(self) -> tuple[Path, Path]:
        """The FTPS server's certificate chain and key: configured, or the endpoint's."""
        ftps = self.settings.ftps
        pki = self.data_dir / PKI_FOLDER
        return (
            self.data_dir / ftps.certificate if ftps.certificate else pki / SERVER_CERT,
            self.data_dir / ftps.key if ftps.key else pki / SERVER_KEY,
        )

    def close(self) -> None:
        """Release the store."""
        self.store.close()


def open_app(config_path: Path, *, create_store: bool = False) -> App:
    """Read the config at ``config_path`` and build the app from it; a missing or empty
    database is an error unless ``create_store`` says to make a new one."""
    settings = load_settings(config_path)
    data_dir = (config_path.parent / settings.data_dir).resolve()
    if not data_dir.is_dir():
        raise ConfigError(
            f"data_dir: {data_dir} is not a folder; create it or fix data_dir in {config_path}"
        )
    store = _open_store(settings, data_dir, create=create_store)
    outbox = LocalOutbox(data_dir / settings.export.outbox)
    return App(settings, data_dir, store, outbox)


def _open_store(settings: Settings, data_dir: Path, *, create: bool) -> Store:
    if settings.store.backend is StoreBackend.MEMORY:
        return MemoryStore()
    return SqliteStore(data_dir / settings.store.path, create=create)


def init_project(
    directory: Path,
    *,
    hostnames: Sequence[str] = (),
    ips: Sequence[str] = (),
    new_database: bool = False,
) -> Path:
    """Create ``directory`` with a default config, database, outbox, the units'
    certificate authority with the endpoint's certificate and the SFTP host key;
    return the config path.

    The endpoint's certificate names localhost, this machine's host name and the
    ``hostnames`` and ``ips`` given (the names units reach the endpoint by). With
    ``new_database``, a folder made before gets an empty database in place of a
    missing or empty one; a database that holds anything is never replaced.
    """
    config = directory / CONFIG_NAME
    if config.exists() and not new_database:
        raise ConfigError(
            f"{config} exists already; kenshin init does not overwrite it"
            " (--new-database makes an empty database where it is missing or empty)"
        )
    check_names(hostnames, ips)  # before anything is made
    directory.mkdir(parents=True, exist_ok=True)
    if new_database and config.exists():
        _check_replaceable(config)
    else:
        write_file(config, DEFAULT_CONFIG_TEXT.encode(), 0o600, replace=False)
    app = open_app(config, create_store=True)
    try:
        app.outbox_dir.mkdir(parents=True, exist_ok=True)
        _create_pki(app.data_dir / PKI_FOLDER, hostnames, ips)
        ensure_host_key(app.host_key_path)
    finally:
        app.close()
    return config


def _check_replaceable(config: Path) -> None:
    """ConfigError unless the database ``config`` names is missing or empty."""
    settings = load_settings(config)
    if settings.store.backend is StoreBackend.MEMORY:
        return
    path = (config.parent / settings.data_dir).resolve() / settings.store.path
    if path.exists() and path.stat().st_size > 0:
        raise ConfigError(
            f"{path} holds a database already; kenshin init never replaces one"
            " (move it away first if it is really to go)"
        )


def _create_pki(folder: Path, hostnames: Sequence[str], ips: Sequence[str]) -> None:
    """A new CA and endpoint certificate. A CA found there (a data folder used before) is
    kept, as every unit's certificate depends on it, and so is its endpoint certificate
    unless names are given."""
    if (folder / CA_CERT).exists() or (folder / CA_KEY).exists():
        ca = LocalCertificateAuthority.load(folder)
        if (folder / SERVER_CERT).exists() and not (hostnames or ips):
            return
    else:
        ca = LocalCertificateAuthority.create(folder)
    issue_endpoint_certificate(ca, hostnames, ips)


def issue_endpoint_certificate(
    ca: LocalCertificateAuthority,
    hostnames: Sequence[str],
    ips: Sequence[str],
    valid_days: int = SERVER_VALID_DAYS,
) -> Credentials:
    """A new endpoint certificate in the CA's folder (server.pem, server.key) for
    localhost, 127.0.0.1, ::1, this machine's host name and the names and addresses given."""
    names = list(dict.fromkeys([*_machine_hostnames(), *hostnames]))
    return ca.issue_server(names, list(dict.fromkeys(ips)), valid_days)


def _machine_hostnames() -> list[str]:
    """This machine's host name if a certificate can name it."""
    name = socket.gethostname()
    return [name] if HOSTNAME.fullmatch(name) and name != "localhost" else []
