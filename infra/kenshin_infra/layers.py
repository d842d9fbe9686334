"""The functions' two layers: kenshin's third-party packages (a folder that
``infra/build_layer.py`` builds, given as ``dependencies_layer``) and kenshin's site
configuration (the settings' ``kenshin_config``, which every function reads at
``/opt/kenshin/kenshin.toml``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from kenshin_infra.settings import SettingsError, StageSettings

CONFIG_FILE = "/opt/kenshin/kenshin.toml"  # where a layer's files are: under /opt
BUILD_COMMAND = "python infra/build_layer.py"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


def dependencies_layer(scope: Construct, settings: StageSettings) -> lambda_.LayerVersion:
    """The layer of kenshin's third-party packages; SettingsError saying how to build
    it if its folder is not there."""
    folder = settings.dependencies_layer
    if not folder.is_dir():
        raise SettingsError(
            f"dependencies_layer: {folder} is no folder; build it first (it downloads"
            f" kenshin's packages for Lambda): {BUILD_COMMAND} {folder}"
        )
    return lambda_.LayerVersion(
        scope,
        "Dependencies",
        code=lambda_.Code.from_asset(str(folder)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="kenshin's third-party packages (infra/build_layer.py)",
    )


def config_layer(scope: Construct, settings: StageSettings) -> lambda_.LayerVersion:
    """The layer holding only the settings' ``kenshin_config``, as ``kenshin/kenshin.toml``:
    made at synthesis, by copying the file (nothing runs in Docker)."""
    source = settings.kenshin_config
    if not source.is_file():
        raise SettingsError(f"kenshin_config: {source} is no file")
    code = lambda_.Code.from_asset(
        str(source.parent),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("none"),  # never used: the copy below does it
            local=_ConfigFolder(source),
        ),
    )
    return lambda_.LayerVersion(
        scope,
        "Config",
        code=code,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description=f"kenshin's site configuration, at {CONFIG_FILE}",
    )


@jsii.implements(ILocalBundling)
class _ConfigFolder:
    """Bundles the layer's folder on this machine: the config file, at kenshin/kenshin.toml."""

    def __init__(self, source: Path) -> None:
        self._source = source

    def try_bundle(self, output_dir: str, *_options: object, **_named: object) -> bool:
        target = Path(output_dir) / Path(CONFIG_FILE).relative_to("/opt")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._source, target)
        return True
