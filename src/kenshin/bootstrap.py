"""The one place that reads settings and picks adapters: real ones, or fakes for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
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
        )

    def close(self) -> None:
        """Release the store."""
        self.store.close()


def open_app(config_path: Path) -> App:
    """Read the config at ``config_path`` and build the app from it."""
    settings = load_settings(config_path)
    data_dir = (config_path.parent / settings.data_dir).resolve()
    if not data_dir.is_dir():
        raise ConfigError(
            f"data_dir: {data_dir} is not a folder; create it or fix data_dir in {config_path}"
        )
    store = _open_store(settings, data_dir)
    outbox = LocalOutbox(data_dir / settings.export.outbox)
    return App(settings, data_dir, store, outbox)


def _open_store(settings: Settings, data_dir: Path) -> Store:
    if settings.store.backend is StoreBackend.MEMORY:
        return MemoryStore()
    return SqliteStore(data_dir / settings.store.path)


def init_project(directory: Path) -> Path:
    """Create ``directory`` with a default config, database and outbox; return the config path."""
    config = directory / CONFIG_NAME
    if config.exists():
        raise ConfigError(f"{config} exists already; kenshin init does not overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    config.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
    app = open_app(config)
    try:
        app.outbox_dir.mkdir(parents=True, exist_ok=True)
    finally:
        app.close()
    return config
