"""Settings: declared as data, read from kenshin.toml and KENSHIN_* environment variables.

Every key is documented in docs/configuration.md (a test fails when one is not).
An environment variable overrides the file: ``KENSHIN_<SECTION>__<KEY>``, e.g.
``KENSHIN_EXPORT__GRACE_HOURS=12``; top-level keys are ``KENSHIN_<KEY>``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kenshin.errors import ConfigError

CONFIG_NAME = "kenshin.toml"
ENV_PREFIX = "KENSHIN_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreBackend(StrEnum):
    """Where readings and the registry live."""

    SQLITE = "sqlite"
    MEMORY = "memory"


class StoreConfig(_Section):
    """The store."""

    backend: StoreBackend = Field(StoreBackend.SQLITE, description="sqlite or memory")
    path: str = Field("kenshin.db", description="SQLite file, relative to data_dir")


class ExportConfig(_Section):
    """Customer files."""

    grace_hours: int = Field(6, ge=0, le=24 * 31, description="hours after a day ends until final")
    retention_days: int = Field(45, ge=1, le=3660, description="days a file is kept")
    outbox: str = Field("outbox", description="folder of published files, relative to data_dir")


class MeterConfig(_Section):
    """Meters."""

    max_demand_kw: int = Field(
        100, ge=1, le=1_000_000, description="largest plausible demand; bounds rollover"
    )


class IngestConfig(_Section):
    """Ingest."""

    batch_messages: int = Field(2000, ge=1, le=1_000_000, description="messages per transaction")


class MqttConfig(_Section):
    """The device endpoint of ``kenshin serve``: MQTT over TLS with client certificates."""

    host: str = Field("0.0.0.0", description="address to listen on; 0.0.0.0 is every interface")  # noqa: S104 - devices connect from the network; TLS and client certificates guard it
    port: int = Field(8883, ge=0, le=65535, description="TCP port (0: any free port)")
    batch_window_ms: int = Field(
        50, ge=1, le=10_000, description="longest wait to fill a batch before it is committed"
    )
    connect_timeout_s: int = Field(
        10, ge=1, le=600, description="time a new connection has to send CONNECT"
    )
    revocation_check_s: int = Field(
        30, ge=1, le=60, description="how often connected units are checked for revocation"
    )


class ScheduleConfig(_Section):
    """The periodic jobs of ``kenshin serve``."""

    export_minutes: int = Field(
        30, ge=1, le=24 * 60, description="minutes between exports of every customer's days"
    )


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
    logging: LoggingConfig = LoggingConfig()


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file at ``path`` with environment overrides applied."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no config file at {path}: create one with 'kenshin init DIR'") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    _apply_environment(data, os.environ if environ is None else environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc)) from exc


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "KENSHIN_CONFIG":
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{name}: {key} is not a section")
        target[keys[-1]] = value


def _explain(path: Path, error: ValidationError) -> str:
    lines = [f"invalid configuration in {path} (or KENSHIN_* environment variables):"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        env = ENV_PREFIX + "__".join(str(part) for part in problem["loc"]).upper()
        if problem["type"] == "extra_forbidden":
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

[export]
grace_hours = 6
retention_days = 45
outbox = "outbox"

[meters]
max_demand_kw = 100

[ingest]
batch_messages = 2000

[mqtt]
host = "0.0.0.0"
port = 8883
batch_window_ms = 50
connect_timeout_s = 10
revocation_check_s = 30

[schedule]
export_minutes = 30

[logging]
level = "WARNING"
"""
