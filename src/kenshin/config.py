"""Settings: declared as data, read from kenshin.toml and KENSHIN_* environment variables.

Every key is documented in docs/configuration.md (a test fails when one is not).
An environment variable overrides the file: ``KENSHIN_<SECTION>__<KEY>``, e.g.
``KENSHIN_EXPORT__GRACE_HOURS=12``; top-level keys are ``KENSHIN_<KEY>``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kenshin.config_alerts import CHANNEL_TYPES, AlertsConfig, ReportConfig, check_names
from kenshin.config_cluster import BrokerConfig, ClusterConfig
from kenshin.config_delivery import DeliveriesConfig, FtpsConfig, SftpConfig
from kenshin.config_endpoint import IngestConfig, MqttConfig
from kenshin.config_environment import AWS_PREFIX as AWS_PREFIX  # re-exported
from kenshin.config_environment import CONFIG_VARIABLE as CONFIG_VARIABLE  # re-exported
from kenshin.config_environment import ENV_PREFIX, apply_environment
from kenshin.config_iot import IotCoreConfig
from kenshin.config_store import ExportConfig, StoreConfig
from kenshin.config_store import S3Location as S3Location  # re-exported
from kenshin.config_store import StoreBackend as StoreBackend  # re-exported
from kenshin.domain.vee.settings import SETTING_NAMES, VeeSettings
from kenshin.errors import ConfigError

CONFIG_NAME = "kenshin.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeterConfig(_Section):
    """Meters."""

    max_demand_kw: int = Field(
        100,
        ge=1,
        le=1_000_000,
        description="largest plausible demand of a direct meter (x coefficient); bounds rollover",
    )


class ScheduleConfig(_Section):
    """The periodic jobs of ``kenshin serve``."""

    export_minutes: int = Field(
        30, ge=1, le=24 * 60, description="minutes between exports of every customer's days"
    )


class HttpConfig(_Section):
    """The HTTP side of ``kenshin serve``: metrics, health and readiness."""

    enabled: bool = Field(True, description="serve /metrics, /healthz and /readyz")
    host: str = Field("127.0.0.1", description="address to listen on; this machine only by default")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port)")
    console: bool = Field(True, description="serve the console and the admin API")
    tls_certificate: str = Field(
        "", description="PEM certificate chain, relative to data_dir; empty: plain HTTP"
    )
    tls_key: str = Field("", description="PEM private key of tls_certificate")
    session_hours: int = Field(
        12, ge=1, le=24 * 7, description="a console session ends this long after sign-in"
    )
    session_idle_minutes: int = Field(
        30, ge=5, le=24 * 60, description="and sooner after this long without a request"
    )


class RecoveryConfig(_Section):
    """Gap recovery: units asked to resend the readings their meters lack."""

    enabled: bool = Field(True, description="ask units to resend what is missing")
    lookback_hours: int = Field(48, ge=1, le=24 * 45, description="how far back holes are sought")
    settle_minutes: int = Field(
        90, ge=0, le=24 * 60, description="how long a reading may take before it is missed"
    )
    first_wait_minutes: int = Field(
        60, ge=1, le=24 * 60, description="wait before asking again; doubles each time"
    )
    max_attempts: int = Field(4, ge=1, le=100, description="times a unit is asked for one hole")


class VeeConfig(_Section):
    """Validation, estimation and editing of every slot of the customer files (docs/vee.md)."""

    enabled: bool = Field(True, description="run VEE on every export; off: slots are A or N")
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="rule settings for every customer (docs/vee.md)"
    )
    customers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-customer rule settings, over the defaults"
    )

    @model_validator(mode="after")
    def _settings_valid(self) -> VeeConfig:
        self.settings_for("")
        for customer in self.customers:
            self.settings_for(customer)
        return self

    def settings_for(self, customer: str) -> VeeSettings:
        """The customer's rule settings: the defaults, then its own; ValueError naming the
        key when one is unknown or out of range."""
        for where, table in (("defaults", self.defaults), (customer, self.customers.get(customer))):
            prefix = "vee.defaults" if where == "defaults" else f"vee.customers.{where}"
            unknown = sorted(set(table or {}) - set(SETTING_NAMES))
            if unknown:
                raise ValueError(
                    f"{prefix}.{unknown[0]}: unknown VEE setting; choose from"
                    f" {', '.join(SETTING_NAMES)} (docs/vee.md)"
                )
            try:
                VeeSettings(**{**self.defaults, **(table or {})})
            except ValueError as exc:
                raise ValueError(f"{prefix}.{exc}") from exc
        return VeeSettings(**{**self.defaults, **self.customers.get(customer, {})})


class LoggingConfig(_Section):
    """Logging."""

    level: str = Field("WARNING", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="log level")


class Settings(_Section):
    """All settings; ``data_dir`` is relative to the folder of the config file."""

    data_dir: str = Field(".", description="folder of the database and the outbox")
    store: StoreConfig = StoreConfig()
    export: ExportConfig = ExportConfig()
    meters: MeterConfig = MeterConfig()
    ingest: IngestConfig = IngestConfig()
    mqtt: MqttConfig = MqttConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    ftps: FtpsConfig = FtpsConfig()
    sftp: SftpConfig = SftpConfig()
    http: HttpConfig = HttpConfig()
    deliveries: DeliveriesConfig = DeliveriesConfig()
    vee: VeeConfig = VeeConfig()
    recovery: RecoveryConfig = RecoveryConfig()
    alerts: AlertsConfig = AlertsConfig()
    report: ReportConfig = ReportConfig()
    broker: BrokerConfig = BrokerConfig()
    cluster: ClusterConfig = ClusterConfig()
    iot_core: IotCoreConfig = IotCoreConfig()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Names that name something, and readings kept as long as exports read them."""
        check_names(self.alerts, self.report)
        kept, least = self.store.readings_retention_days, self.export.retention_days + 60
        if 0 < kept < least:
            raise ValueError(
                f"store.readings_retention_days: {kept} days would drop readings that exports"
                f" still read: give 0 (kept forever) or at least {least} (export.retention_days"
                " + 60: a day is made again while its file is kept, and VEE reads the 8 weeks"
                " before it)"
            )
        return self


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file at ``path`` with environment overrides applied."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no config file at {path}: create one with 'kenshin init DIR'") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    apply_environment(data, os.environ if environ is None else environ, Settings)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc)) from exc


def _explain(path: Path, error: ValidationError) -> str:
    lines = [f"invalid configuration in {path} (or KENSHIN_* environment variables):"]
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"]]
        kind = ""
        if loc[:2] == ["alerts", "channels"] and len(loc) > 3 and loc[3] in CHANNEL_TYPES:
            kind = loc.pop(3)  # the model of the channel's type, not a key
        key, env = ".".join(loc), ENV_PREFIX + "__".join(loc).upper()
        if not loc:  # a key naming another: the message names it
            lines.append(f"  {problem['msg'].removeprefix('Value error, ')}")
        elif problem["type"] == "extra_forbidden" and kind:
            lines.append(f"  {key}: not a setting of channels of type {kind!r}; see docs/alerts.md")
        elif problem["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown setting; see docs/configuration.md for the keys")
        else:
            lines.append(f"  {key} ({env}): {problem['msg']}")
    return "\n".join(lines)


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file: ``--config``, then KENSHIN_CONFIG, then ./kenshin.toml."""
    env = os.environ if environ is None else environ
    chosen = explicit or env.get("KENSHIN_CONFIG") or CONFIG_NAME
    return Path(chosen)


DEFAULT_CONFIG_TEXT = """\
# kenshin configuration. Every key: docs/configuration.md.
# Environment variables override it: KENSHIN_<SECTION>__<KEY>, e.g. KENSHIN_EXPORT__GRACE_HOURS.

data_dir = "."

[store]
backend = "sqlite"
path = "kenshin.db"
url = ""
readings_retention_days = 0

[export]
grace_hours = 6
retention_days = 45
outbox = "outbox"
outbox_kms_key = ""
processes = 0

[meters]
max_demand_kw = 100

[ingest]
batch_messages = 2000

[mqtt]
host = "0.0.0.0"
port = 8883
batch_window_ms = 50
connect_timeout_s = 10
revocation_check_s = 2
connecting_per_address = 100
connecting_per_certificate = 4
report_spread_s = 1800
processes = 0

[schedule]
export_minutes = 30

[ftps]
enabled = true
host = "0.0.0.0"
port = 2121
passive_ports = "50000-50099"
announce_address = ""
active_mode = false
allow_plain = false
certificate = ""
key = ""
idle_timeout_s = 300
max_connections = 256
max_connections_per_address = 10
login_timeout_s = 30

[sftp]
enabled = true
host = "0.0.0.0"
port = 2222
host_key = "ssh/host_key"
max_new_connections_per_minute = 30

[http]
enabled = true
host = "127.0.0.1"
port = 8080
console = true
tls_certificate = ""
tls_key = ""
session_hours = 12
session_idle_minutes = 30

[deliveries]
max_failed_logins = 5
failure_window_minutes = 15
lockout_minutes = 15
failed_login_delay_ms = 2000
max_failed_login_delay_ms = 60000
collect_by_hours = 12

[vee]
# Every slot validated, gaps estimated and flagged (A, E, Q, N): docs/vee.md.
enabled = true

[vee.defaults]
# Rule settings for every customer, e.g. interpolation_max_slots = 4

[vee.customers]
# A customer's own, over the defaults, e.g. "C-001" = { write_estimates = false }

[recovery]
enabled = true
lookback_hours = 48
settle_minutes = 90
first_wait_minutes = 60
max_attempts = 4

# Alerts: rules, and where they go. Add channels and routes (docs/alerts.md), e.g.
# [alerts.channels.ops-mail] with type = "email", then [[alerts.routes]] channel = "ops-mail".
[alerts]
enabled = true
site = "kenshin"
evaluate_seconds = 60
repeat_minutes = 240
silent_hours = 6.0
dead_letters = 10
dead_letter_window_minutes = 60
ingest_stall_minutes = 10
disk_min_free_mb = 1024
disk_min_free_percent = 5.0
security_window_minutes = 60
security_retention_days = 30
certificate_expiry_days = 30
rate_limit_messages = 10
rate_limit_minutes = 10
digest_max = 100
retry_first_seconds = 30
retry_max_seconds = 900
channel_down_minutes = 5
silent_hours_by_customer = {}

# The daily data-quality report (docs/report.md); sent through an email channel.
[report]
enabled = true
time = "08:00"
timezone = "Asia/Tokyo"
channel = ""
recipients = []
silent_hours = 6
shown_meters = 20

# A cluster (docs/cluster.md): the broker kenshin worker reads the units' messages from.
[broker]
url = ""
certificate = "broker/worker.pem"
key = "broker/worker.key"
ca = "pki/ca.pem"
share = "kenshin"
session_expiry_s = 604800
receive_maximum = 2000

[cluster]
workers = 0
heartbeat_s = 5
leader_check_s = 5

# Units on AWS IoT Core instead of kenshin's own endpoint (docs/aws.md).
[iot_core]
enabled = false
region = ""
policy = ""
endpoint = ""
data_endpoint = ""

[logging]
level = "WARNING"
"""
