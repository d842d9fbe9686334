"""Helpers shared by the command-line tests, and hypothesis' settings for all tests."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from kenshin.entrypoints.cli import cli

# The property tests check values, not speed: a busy machine must not fail them.
settings.register_profile("kenshin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kenshin")


def kenshin(site: Path, *args: str, input_text: str | None = None) -> Result:
    """Run the command line on the site's config; a traceback fails the test."""
    result = CliRunner().invoke(
        cli, ["--config", str(site / "kenshin.toml"), *args], input=input_text
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def make_site(root: Path, name: str) -> Path:
    """A new data folder ``root/name`` with customer C-001."""
    site = root / name
    assert kenshin(site, "init", str(site)).exit_code == 0
    assert kenshin(site, "customers", "add", "C-001", "--name", "Example").exit_code == 0
    return site
