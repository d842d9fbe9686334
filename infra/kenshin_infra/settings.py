"""The stages' settings, read from a TOML file: account, region, names and sizes."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

STAGES = ("staging", "production")
EXAMPLE = Path(__file__).resolve().parents[1] / "settings.example.toml"

# The settings that are paths, made relative to the settings file's folder.
PATHS = ("ca_certificate", "verification_certificate", "kenshin_config", "dependencies_layer")

Account = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{2,40}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]
Time = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Certificate = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:")]


def _network(text: str) -> str:
    return str(ipaddress.ip_network(text))  # ValueError naming it unless it is one


Cidr = Annotated[str, AfterValidator(_network)]


class SettingsError(Exception):
    """The settings file cannot be used; the message says why."""


class StageSettings(BaseModel):
    """One environment: where it runs, what it is called, and its sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: Account
    region: str
    availability_zones: tuple[str, ...] = Field(min_length=2)
    name: Name
    ca_certificate: Path
    verification_certificate: Path | None = None
    alarm_email: Email
    # Mail from kenshin itself (alerts, the daily report) goes out through SES from this
    # address, the one identity its functions may send as.
    ses_sender: Email
    kenshin_config: Path
    dependencies_layer: Path
    slack_workspace_id: str | None = None
    slack_channel_id: str | None = None
    file_retention_days: int = Field(45, ge=1)
    access_log_retention_days: int = Field(365, ge=1)
    log_retention_days: int = Field(90, ge=1)
    trail_retention_days: int = Field(365, ge=1)
    guardduty: bool = False
    security_hub: bool = False
    sftp: bool = False
    ftps: bool = False
    ftps_certificate_arn: Certificate | None = None
    ftps_client_cidrs: tuple[Cidr, ...] = ()
    vpc_cidr: Cidr = "10.40.0.0/16"
    ingest_memory_mb: int = Field(512, ge=128, le=10240)
    ingest_timeout_s: int = Field(120, ge=1, le=900)
    ingest_batch_size: int = Field(100, ge=1, le=10000)
    ingest_batching_window_s: int = Field(5, ge=0, le=300)
    ingest_max_receive_count: int = Field(5, ge=1)
    # At most this many ingest invocations at once (Lambda's SQS scaling, 2 at the least):
    # each batch's readings update two items every batch shares (a counter, the day's mark).
    ingest_max_concurrency: int = Field(10, ge=2, le=1000)
    export_memory_mb: int = Field(1024, ge=128, le=10240)
    export_timeout_s: int = Field(600, ge=1, le=900)
    export_every_minutes: int = Field(30, ge=1)
    export_day_close_minutes: int = Field(15, ge=0, lt=24 * 60)
    watch_every_minutes: int = Field(5, ge=1, le=60)
    watch_memory_mb: int = Field(512, ge=128, le=10240)
    watch_timeout_s: int = Field(120, ge=1, le=900)
    report_time_utc: Time = "23:00"
    report_memory_mb: int = Field(1024, ge=128, le=10240)
    report_timeout_s: int = Field(300, ge=1, le=900)

    @model_validator(mode="after")
    def _ftps_complete(self) -> Self:
        arn = self.ftps_certificate_arn
        if self.ftps and (arn is None or not self.ftps_client_cidrs):
            raise ValueError(
                "ftps: give ftps_certificate_arn (the server's certificate in ACM) and"
                " ftps_client_cidrs (the customers' networks, through the VPN)"
            )
        if arn is not None and arn.split(":")[3:5] != [self.region, self.account]:
            raise ValueError(
                f"ftps_certificate_arn: {arn} is not in the stage's region and account"
                f" ({self.region}, {self.account}), where Transfer Family looks for it"
            )
        return self

    def ca_pem(self) -> str:
        """The CA certificate's PEM text."""
        return _pem(self.ca_certificate, "ca_certificate")

    def verification_pem(self) -> str | None:
        """The verification certificate's PEM text, if one is given."""
        path = self.verification_certificate
        return None if path is None else _pem(path, "verification_certificate")


class Settings(BaseModel):
    """Every stage's settings, by stage name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: dict[str, StageSettings]


def load_settings(path: Path) -> Settings:
    """The settings in ``path``, its paths made relative to its folder;
    SettingsError if it cannot be read or does not hold both stages."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        for stage in raw.get("stages", {}).values():
            for key in PATHS:
                if key in stage:
                    stage[key] = str(path.parent / stage[key])
        settings = Settings.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    missing = [name for name in STAGES if name not in settings.stages]
    if missing:
        raise SettingsError(f"{path}: no stage {', '.join(missing)}")
    return settings


def _pem(path: Path, key: str) -> str:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{key}: {exc}") from exc
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise SettingsError(f"{key}: {path} holds no PEM certificate")
    return text
