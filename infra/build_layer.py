"""Builds the folder of the functions' layer of kenshin's third-party packages:

    python infra/build_layer.py [FOLDER]

runs pip to install into FOLDER/python (where a layer's packages go, made anew; FOLDER
is ``infra/build/dependencies`` without one) the wheels of kenshin's runtime dependencies,
as pyproject.toml lists them, built for Lambda's Python 3.12 on arm64. It downloads
them from PyPI; synthesis then takes the folder as it is (the settings'
``dependencies_layer``). boto3 is not in it: Lambda's Python has it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
DEFAULT_FOLDER = Path(__file__).resolve().parent / "build" / "dependencies"
PYTHON = "3.12"
# Lambda's arm64 is Amazon Linux 2023 (glibc 2.34): wheels for manylinux 2014 (glibc
# 2.17) run there, and so do those for glibc 2.28, the oldest some packages still build.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# Left out of the layer, with the reason: no function imports them.
LEFT_OUT = {
    "pyftpdlib": "kenshin serve's FTPS server (PyPI has no wheel of it); no function serves FTP",
}
# Dependencies whose environment marker is set aside: in the layer all the same, with why.
MARKER_SET_ASIDE = {
    "tzdata": "zoneinfo falls back on it where the system has no time zone database",
}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class LayerError(Exception):
    """The layer cannot be built as pyproject.toml stands; the message says why."""


def requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """kenshin's runtime dependencies as pip takes them, for the layer: those of
    ``LEFT_OUT`` dropped, the markers of ``MARKER_SET_ASIDE`` removed. LayerError for
    any other marker: pip would read it for the machine building the layer, not Lambda."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    found = []
    for dependency in project["dependencies"]:
        requirement, _, marker = (part.strip() for part in dependency.partition(";"))
        match = _NAME.match(requirement)
        if match is None:
            raise LayerError(f"{pyproject}: cannot read the dependency {dependency!r}")
        name = re.sub(r"[._-]+", "-", match.group(1)).lower()
        if name in LEFT_OUT:
            continue
        if marker and name not in MARKER_SET_ASIDE:
            raise LayerError(
                f"{pyproject}: {dependency!r} has an environment marker; say in"
                f" {Path(__file__).name} whether the layer needs {name}"
            )
        found.append(requirement)
    return found


def pip_command(folder: Path, pyproject: Path = PYPROJECT) -> list[str]:
    """The pip command installing the layer's packages into ``folder``/python."""
    platforms = [option for platform in PLATFORMS for option in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(folder / "python"),
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON,
        "--only-binary=:all:",
        "--upgrade",
        *requirements(pyproject),
    ]


def build(
    folder: Path,
    pyproject: Path = PYPROJECT,
    run: Callable[[list[str]], int] = lambda command: subprocess.call(command),  # noqa: S603
) -> int:
    """Install the layer's packages into ``folder``/python, made anew; pip's exit status."""
    command = pip_command(folder, pyproject)
    packages = folder / "python"
    if packages.exists():
        shutil.rmtree(packages)
    packages.mkdir(parents=True)
    return run(command)


def main(argv: Sequence[str] | None = None) -> int:
    """``build_layer.py [FOLDER]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or any(arg.startswith("-") for arg in args):
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(args[0]) if args else DEFAULT_FOLDER
    try:
        return build(folder)
    except LayerError as exc:
        print(f"build_layer: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
