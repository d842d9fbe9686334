"""The stages' settings, read from a TOML file: account, region, names and sizes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

STAGES = ("staging", "production")
EXAMPLE = Path(__file__).resolve().parents[1] / "settings.example.toml"

Account = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{2,40}$")]


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
    alarm_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    slack_workspace_id: str | None = None
    slack_channel_id: str | None = None
    file_retention_days: int = Field(45, ge=1)
    access_log_retention_days: int = Field(365, ge=1)
    log_retention_days: int = Field(90, ge=1)
    trail_retention_days: int = Field(365, ge=1)
    guardduty: bool = False
    security_hub: bool = False
    sftp: bool = False
    ingest_memory_mb: int = Field(512, ge=128, le=10240)
    ingest_timeout_s: int = Field(60, ge=1, le=900)
    ingest_batch_size: int = Field(100, ge=1, le=10000)
    ingest_batching_window_s: int = Field(5, ge=0, le=300)
    ingest_max_receive_count: int = Field(5, ge=1)
    export_memory_mb: int = Field(1024, ge=128, le=10240)
    export_timeout_s: int = Field(600, ge=1, le=900)
    export_every_minutes: int = Field(30, ge=1)

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
    """The settings in ``path``, its certificate paths made relative to its folder;
    SettingsError if it cannot be read or does not hold both stages."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        for stage in raw.get("stages", {}).values():
            for key in ("ca_certificate", "verification_certificate"):
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
