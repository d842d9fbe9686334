"""The AWS build synthesized once per test session, both stages of the example settings
(with an empty folder for the layer of third-party packages, which only
infra/build_layer.py can fill, from PyPI), each checked by cdk-nag as it is synthesized
(see docs/aws.md). Synthesis runs the CDK's constructs in a Node.js process: these tests
are in the integration tier, and skip, saying why, without the 'aws' extra or without
Node.js."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

INFRA = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA) not in sys.path:  # the CDK app's package, kenshin_infra
    sys.path.insert(0, str(INFRA))
STAGES = ("staging", "production")
LAYER_SETTING = 'dependencies_layer = "build/dependencies"'
# jsii's banner about Node.js 20's end of life (its Node.js process starts as aws_cdk is
# first imported) says nothing to these tests.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass(frozen=True)
class Synthesized:
    """One stage as synthesized: its name, its template (also as JSON), the template's file, its
    account and region, and the messages (annotations) synthesis left on it, as (level,
    construct path, text)."""

    name: str
    template: Template
    template_file: Path
    account: str
    region: str
    messages: list[tuple[str, str, str]]
    json: dict[str, Any]


@pytest.fixture(scope="session")
def cdk() -> None:
    """Skip, saying why, where synthesis cannot run. (The test modules import aws_cdk only
    in their tests: collecting them, as the unit tier does too, starts no Node.js.)"""
    # Node.js first: importing aws_cdk starts it.
    if shutil.which("node") is None:
        pytest.skip("the AWS CDK runs its constructs in Node.js, which is not installed")
    pytest.importorskip("aws_cdk", reason="the AWS build needs the 'aws' extra (aws-cdk-lib)")
    pytest.importorskip("cdk_nag", reason="the AWS build needs the 'aws' extra (cdk-nag)")


def example_settings(folder: Path, layer: Path) -> Path:
    """A copy of the example settings in ``folder`` (with the files it names beside it)
    whose stages take ``layer`` as their dependencies layer."""
    from kenshin_infra.settings import EXAMPLE

    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(LAYER_SETTING) == len(STAGES)
    for name in ("example-ca.pem", "kenshin.aws.example.toml"):
        shutil.copyfile(INFRA / name, folder / name)
    path = folder / "settings.toml"
    path.write_text(
        text.replace(LAYER_SETTING, f'dependencies_layer = "{layer.as_posix()}"'), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="session")
def stages(cdk: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """Both stages of infra/settings.example.toml, synthesized once for the session."""
    from aws_cdk.assertions import Template

    from kenshin_infra.stage import build_app

    settings = example_settings(
        tmp_path_factory.mktemp("settings"), tmp_path_factory.mktemp("dependencies")
    )
    started = time.monotonic()
    app = build_app(settings, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    assembly = app.synth()
    found: dict[str, Synthesized] = {}
    for name in STAGES:
        (stack,) = assembly.get_nested_assembly(f"assembly-{name}").stacks
        found[name] = Synthesized(
            name=name,
            template=Template.from_json(stack.template),
            template_file=Path(stack.template_full_path),
            account=stack.environment.account,
            region=stack.environment.region,
            messages=[(m.level.value.lower(), m.id, str(m.entry.data)) for m in stack.messages],
            json=stack.template,
        )
    print(f"both stages synthesized and checked in {time.monotonic() - started:.1f} s")
    return found
