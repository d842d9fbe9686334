"""Helpers shared by the command-line tests, and hypothesis' settings for all tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
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


def serve_process(
    site: Path, env: Mapping[str, str], listeners: int = 1, *, stderr: int = subprocess.PIPE
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """``kenshin serve`` on the site as a process, ``env`` over this one's environment;
    once it has printed its ``listeners`` listening lines: the process, and the port of
    each protocol it listens with."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml"), "serve"],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "KENSHIN_HTTP__PORT": "0", **env},  # tests run side by side
    )
    assert process.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < listeners:
        line = process.stdout.readline()
        found = re.fullmatch(r"listening: (.+) on \S+ port (\d+)\n", line)
        assert found, line or process.communicate(timeout=10)[1]
        ports[found[1]] = int(found[2])
    return process, ports
