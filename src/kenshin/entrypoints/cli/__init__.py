"""The ``kenshin`` command line: the group lives in ``app``, each module adds its commands."""

from kenshin.entrypoints.cli import (
    data,
    delivery,
    demo,
    devices,
    explain,
    meters,
    registry,
    replay,
    report,
    serve,
    simulation,
)
from kenshin.entrypoints.cli.app import cli

__all__ = [
    "cli",
    "data",
    "delivery",
    "demo",
    "devices",
    "explain",
    "main",
    "meters",
    "registry",
    "replay",
    "report",
    "serve",
    "simulation",
]


def main() -> None:
    """Console entry point."""
    cli(prog_name="kenshin")
