"""infra/build_layer.py: the pip command it composes for the layer of kenshin's
third-party packages, from pyproject.toml's dependencies. (Running it downloads them
from PyPI: not done here.)"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from build_layer import PYPROJECT, LayerError, build, pip_command, requirements


def pyproject(folder: Path, *dependencies: str) -> Path:
    path = folder / "pyproject.toml"
    listed = ", ".join(f'"{d}"' for d in dependencies)
    path.write_text(f'[project]\nname = "x"\ndependencies = [{listed}]\n', encoding="utf-8")
    return path


def test_the_layer_has_kenshins_runtime_dependencies_for_lambdas_python_on_arm64(
    tmp_path: Path,
) -> None:
    command = pip_command(tmp_path / "layer")
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    options = " ".join(command)
    assert f"--target {tmp_path / 'layer' / 'python'}" in options
    assert "--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64" in options
    assert "--implementation cp --python-version 3.12 --only-binary=:all:" in options
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    wanted = [d.split(";")[0].strip() for d in declared if not d.startswith("pyftpdlib")]
    assert command[-len(wanted) :] == wanted
    assert any(d.startswith("tzdata") for d in wanted)  # whatever its marker says
    assert not any(d.startswith("boto3") for d in command)  # Lambda's Python has it


def test_a_dependency_that_is_not_for_the_functions_is_left_out(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "click>=8", "pyftpdlib>=2.0,<3", "tzdata; sys_platform == 'win32'")
    assert requirements(path) == ["click>=8", "tzdata"]


def test_an_unknown_environment_marker_is_refused_named(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "click>=8", "uvloop>=0.19; sys_platform != 'win32'")
    with pytest.raises(LayerError, match="uvloop"):
        requirements(path)


def test_building_makes_the_folder_anew_and_runs_pip_into_it(tmp_path: Path) -> None:
    stale = tmp_path / "layer" / "python" / "old_package"
    stale.mkdir(parents=True)
    ran: list[list[str]] = []

    def run(command: list[str]) -> int:
        ran.append(command)
        return 0

    assert build(tmp_path / "layer", pyproject(tmp_path, "click>=8"), run) == 0
    assert not stale.exists()
    assert (tmp_path / "layer" / "python").is_dir()
    assert ran == [pip_command(tmp_path / "layer", tmp_path / "pyproject.toml")]
