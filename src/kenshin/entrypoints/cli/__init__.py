"""The ``kenshin`` command line: the group lives in ``app``, each module adds its commands."""

import os
import sys

from kenshin.entrypoints.cli import (
    backup,
    broker_config,
    cluster,
    data,
    database,
    delivery,
    demo,
    device_changes,
    devices,
    devices_iot,
    explain,
    files,
    meters,
    registry,
    replay,
    report,
    serve,
    server_cert,
    simulation,
    users,
)
from kenshin.entrypoints.cli.app import cli

__all__ = [
    "backup",
    "broker_config",
    "cli",
    "cluster",
    "data",
    "database",
    "delivery",
    "demo",
    "device_changes",
    "devices",
    "devices_iot",
    "explain",
    "files",
    "main",
    "meters",
    "registry",
    "replay",
    "report",
    "serve",
    "server_cert",
    "simulation",
    "users",
]


def main() -> None:
    """Console entry point. Output cut short by its reader (``kenshin ... | head``) ends
    the command quietly: no traceback, no message."""
    try:
        cli(prog_name="kenshin")
    except BrokenPipeError:
        _drop_stdout()
        sys.exit(1)
    finally:
        try:  # what is still buffered goes out now, not at exit where it cannot be caught
            sys.stdout.flush()
        except BrokenPipeError:
            _drop_stdout()


def _drop_stdout() -> None:
    """Point standard output at the null device: nothing more is written, or fails."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
