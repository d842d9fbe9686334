"""The one place that reads settings and picks adapters: real ones, or fakes for tests.

Entrypoints never import an adapter: what they need of one (the certificate authority,
the endpoint's TLS context, the data folder's lock, the SFTP host key...) they get from
the ``App`` built here, or from the functions below.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kenshin.adapters.folder_lock import FILES_LOCK_FILE, FolderLock
from kenshin.adapters.mqtt_broker import BrokerLink, BrokerSettings
from kenshin.adapters.outbox import TEMP_SUFFIX
from kenshin.adapters.pki import (
    CA_CERT,
    CA_KEY,
    HOSTNAME,
    PKI_FOLDER,
    SERVER_CERT,
    SERVER_KEY,
    Credentials,
    CredentialsFolder,
    LocalCertificateAuthority,
    check_names,
    server_ssl_context,
)
from kenshin.adapters.pki_files import certificate_end, certificate_names, write_file
from kenshin.adapters.sqlite_backup import backup_database
from kenshin.adapters.ssh_host_key import ensure_host_key, host_key_fingerprint
from kenshin.config import (
    CONFIG_NAME,
    DEFAULT_CONFIG_TEXT,
    Settings,
    StoreBackend,
    load_settings,
)
from kenshin.domain.cluster import Delivery
from kenshin.domain.devices import SERVER_VALID_DAYS
from kenshin.errors import ConfigError, StoreError
from kenshin.export_processes import ExportProcesses, export_elsewhere
from kenshin.ports import CertificateAuthority, CredentialsOut, Outbox, Store
from kenshin.ports.broker import UnitMessages
from kenshin.ports.cluster import Leadership, Members
from kenshin.services.export import ExportSettings
from kenshin.services.ingest import Ingest
from kenshin.services.receipts import CollectionWatch
from kenshin.services.rounds import ExportRound
from kenshin.services.security import SecurityLog
from kenshin.store_setup import open_outbox, open_store
from kenshin.store_setup import upgrade_store as upgrade_store  # re-exported


@dataclass
class App:
    """The pieces a command or the server works with, built from the settings."""

    settings: Settings
    data_dir: Path
    store: Store
    outbox: Outbox

    @property
    def outbox_dir(self) -> Path:
        """Folder of the published customer files; ConfigError where ``export.outbox`` is an
        S3 bucket (the file servers, ``kenshin files``, the backup and the demo work on a
        folder only)."""
        where = self.settings.export.s3_outbox
        if where is not None:
            raise ConfigError(
                f"export.outbox: the files are in S3 ({where}): this works on an outbox"
                " folder only; on AWS, customers collect their files from the bucket"
                " (docs/aws.md)"
            )
        return self.data_dir / self.settings.export.outbox

    def outbox_location(self, customer_id: str, name: str = "") -> str:
        """Where a customer's file (or folder) is: a path, or an S3 URL."""
        where = self.settings.export.s3_outbox
        if where is None:
            return str(self.data_dir / self.settings.export.outbox / customer_id / name)
        return f"{where}{customer_id}/{name}"

    @property
    def export_settings(self) -> ExportSettings:
        """Export settings for the export service."""
        return ExportSettings(
            grace_hours=self.settings.export.grace_hours,
            retention_days=self.settings.export.retention_days,
            readings_retention_days=self.settings.store.readings_retention_days,
            max_demand_w=self.settings.meters.max_demand_kw * 1000,
            vee=self.settings.vee.settings_for("") if self.settings.vee.enabled else None,
            vee_customers=(
                {c: self.settings.vee.settings_for(c) for c in self.settings.vee.customers}
                if self.settings.vee.enabled
                else {}
            ),
        )

    def export_elsewhere(self) -> ExportProcesses | None:
        """Worker processes for the exports (``export.processes``), if not this one."""
        return export_elsewhere(self.settings, self.data_dir, self.export_settings)

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
            shared=bool(self.settings.store.url),  # PostgreSQL, DynamoDB
        )

    def export_round(self) -> ExportRound:
        """The scheduled export of the settings (exports, collection, gap recovery)."""
        return ExportRound(
            self.store,
            self.outbox,
            self.export_settings,
            self.settings.recovery,
            CollectionWatch(self.settings.deliveries.collect_by_hours),
            elsewhere=self.export_elsewhere(),
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

    @property
    def pki_dir(self) -> Path:
        """The folder of the units' certificate authority and the endpoint's certificate."""
        return self.data_dir / PKI_FOLDER

    def certificate_authority(self) -> CertificateAuthority:
        """The units' certificate authority; PkiError if its files are missing or corrupt."""
        return LocalCertificateAuthority.load(self.pki_dir)

    def credentials_folder(self, folder: Path) -> CredentialsOut:
        """Issued credentials handed out as files in ``folder``."""
        return CredentialsFolder(folder)

    def endpoint_tls(self) -> ssl.SSLContext:
        """The device endpoint's TLS context: its certificate, units' certificates of the
        CA required; PkiError if the files are missing or do not belong together."""
        return server_ssl_context(self.pki_dir)

    def folder_lock(self) -> FolderLock:
        """The lock that keeps the data folder to one server (``acquire``, ``release``)."""
        return FolderLock(self.data_dir)

    def files_lock(self) -> FolderLock:
        """The lock that keeps the data folder to one ``kenshin files`` (apart from the
        server's: a files node may run beside a stopped or running ``kenshin serve``)."""
        return FolderLock(self.data_dir, FILES_LOCK_FILE, "kenshin files")

    def ensure_host_key(self) -> bool:
        """Make the SFTP host key if it is missing: whether it was made."""
        return ensure_host_key(self.host_key_path)

    def host_key_fingerprint(self) -> str:
        """The SFTP host key's fingerprint, as clients show it."""
        return host_key_fingerprint(self.host_key_path)

    def certificate_ends(self) -> dict[str, int]:
        """When the certificates the server presents end (UTC epoch s), by what they are
        for: the MQTT endpoint's, the FTPS server's (when it has one of its own) and the
        units' certificate authority's; those not found are left out."""
        pki = self.pki_dir
        paths = {"MQTT endpoint": pki / SERVER_CERT}
        if self.settings.ftps.enabled and self.ftps_certificate[0] != pki / SERVER_CERT:
            paths["FTPS server"] = self.ftps_certificate[0]
        paths["units' certificate authority"] = pki / CA_CERT
        ends = {name: certificate_end(path) for name, path in paths.items()}
        return {name: end for name, end in ends.items() if end is not None}

    def backup_database(self, target: Path) -> int:
        """Copy the SQLite database to ``target`` (one consistent snapshot, checked): its
        size in bytes. StoreError for a store that is not SQLite."""
        if self.settings.store.kind != StoreBackend.SQLITE:
            raise StoreError('only a SQLite store (store.backend = "sqlite") is backed up')
        return backup_database(self.data_dir / self.settings.store.path, target)

    def broker_link(
        self, client_id: str, on_delivery: Callable[[Delivery], None], *, retiring: bool = False
    ) -> UnitMessages:
        """The worker's link to the broker of ``broker.url``, as ``client_id`` (``retiring``:
        out of the shared subscriptions, to drain its session); ConfigError unless the
        settings make a worker."""
        self.check_worker()
        broker = self.settings.broker
        settings = BrokerSettings(
            broker.host,
            broker.port,
            self.data_dir / broker.certificate,
            self.data_dir / broker.key,
            self.data_dir / broker.ca,
            client_id,
            broker.share,
            broker.session_expiry_s,
            broker.receive_maximum,
        )
        return BrokerLink(settings, on_delivery, retiring=retiring)

    def check_worker(self) -> None:
        """ConfigError, naming the key and what to set, unless the settings make a worker:
        a PostgreSQL store and a broker."""
        if getattr(self.store, "members", None) is None:
            raise _no_cluster_store()
        if not self.settings.broker.url:
            raise ConfigError(
                "broker.url: kenshin worker reads the units' messages from an MQTT broker: set"
                ' broker.url = "mqtts://HOST:PORT" (docs/cluster.md)'
            )

    def cluster(self) -> tuple[Members, Leadership]:
        """The cluster's heartbeats and its lead, kept in the store every worker shares;
        ConfigError unless the store is PostgreSQL."""
        members = getattr(self.store, "members", None)
        leadership = getattr(self.store, "leadership", None)
        if members is None or leadership is None:
            raise _no_cluster_store()
        lead: Leadership = leadership()
        return members, lead

    def close(self) -> None:
        """Release the store."""
        self.store.close()


def _no_cluster_store() -> ConfigError:
    """What a cluster's command says on a store that is not PostgreSQL."""
    return ConfigError(
        "store.url: the processes of a cluster share one PostgreSQL store: set"
        ' store.url = "postgresql://USER@HOST:PORT/DB" (docs/cluster.md)'
    )


PARTIAL_FILES = f"*{TEMP_SUFFIX}"  # outbox files being written: never part of a backup


def open_app(
    config_path: Path, *, create_store: bool = False, environ: Mapping[str, str] | None = None
) -> App:
    """Read the config at ``config_path`` (with ``environ``'s overrides: the process's by
    default) and build the app from it; a missing or empty database is an error unless
    ``create_store`` says to make a new one."""
    settings = load_settings(config_path, environ)
    data_dir = (config_path.parent / settings.data_dir).resolve()
    if not data_dir.is_dir():
        raise ConfigError(
            f"data_dir: {data_dir} is not a folder; create it or fix data_dir in {config_path}"
        )
    return open_site(settings, data_dir, create_store=create_store)


def open_site(settings: Settings, data_dir: Path, *, create_store: bool = False) -> App:
    """The app of ``settings`` on the data folder ``data_dir`` (read already)."""
    store = open_store(settings, data_dir, create=create_store)
    try:
        outbox = open_outbox(settings, data_dir)
    except ConfigError:
        store.close()
        raise
    return App(settings, data_dir, store, outbox)


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
        if app.settings.export.s3_outbox is None:
            app.outbox_dir.mkdir(parents=True, exist_ok=True)
        _create_pki(app.data_dir / PKI_FOLDER, hostnames, ips)
        ensure_host_key(app.host_key_path)
    finally:
        app.close()
    return config


def _check_replaceable(config: Path) -> None:
    """ConfigError unless the database ``config`` names is missing or empty."""
    settings = load_settings(config)
    if settings.store.kind != StoreBackend.SQLITE:
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


def check_endpoint_names(hostnames: Sequence[str], ips: Sequence[str]) -> None:
    """PkiError for a host name or address the endpoint's certificate cannot hold."""
    check_names(hostnames, ips)


@dataclass(frozen=True)
class EndpointCertificate:
    """The endpoint's certificate issued: its file, last valid second and names."""

    path: Path
    not_after: int
    names: list[str]


def reissue_endpoint_certificate(
    app: App, hostnames: Sequence[str], ips: Sequence[str], *, only: bool, valid_days: int
) -> EndpointCertificate:
    """Issue the endpoint's certificate again from the units' CA, for the defaults, the
    names and addresses given and (unless ``only``) those of the current certificate."""
    ca = LocalCertificateAuthority.load(app.pki_dir)
    path = app.pki_dir / SERVER_CERT
    kept_names, kept_ips = ([], []) if only else certificate_names(path)
    issued = issue_endpoint_certificate(
        ca, [*kept_names, *hostnames], [*kept_ips, *ips], valid_days
    )
    names, addresses = certificate_names(path)
    return EndpointCertificate(path, issued.not_after, [*names, *addresses])


def issue_endpoint_certificate(
    ca: LocalCertificateAuthority,
    hostnames: Sequence[str],
    ips: Sequence[str],
    valid_days: int = SERVER_VALID_DAYS,
) -> Credentials:
    """A new endpoint certificate in the CA's folder (server.pem, server.key) for
    localhost, 127.0.0.1, ::1, this machine's host name and the names and addresses given."""
    names = list(dict.fromkeys([*machine_hostnames(), *hostnames]))
    return ca.issue_server(names, list(dict.fromkeys(ips)), valid_days)


def machine_hostnames() -> list[str]:
    """This machine's host name if a certificate can name it."""
    name = socket.gethostname()
    return [name] if HOSTNAME.fullmatch(name) and name != "localhost" else []
