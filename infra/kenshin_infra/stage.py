"""The app: a stage per environment of the settings, each checked by cdk-nag's
AwsSolutions rules (an unacknowledged finding is an error annotation)."""

from __future__ import annotations

import os
from pathlib import Path

from aws_cdk import App, Aspects, Environment, Stage
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from kenshin_infra.settings import EXAMPLE, StageSettings, load_settings
from kenshin_infra.stack import KenshinStack

STACK_ID = "Kenshin"
# Feature flags set in code, not only in cdk.json: ``python infra/app.py`` reads no cdk.json.
FEATURES = {
    # The access-log bucket admits S3's log delivery by a bucket policy, not by an ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


class KenshinStage(Stage):
    """One environment (staging, production): its account, region, and stack."""

    def __init__(self, scope: Construct, construct_id: str, settings: StageSettings) -> None:
        env = Environment(account=settings.account, region=settings.region)
        super().__init__(scope, construct_id, env=env)
        self.stack = KenshinStack(self, STACK_ID, settings)
        # On the stage: an app's aspects do not reach into its stages.
        Aspects.of(self).add(AwsSolutionsChecks(verbose=True))


def build_app(settings_path: Path | None = None, outdir: str | None = None) -> App:
    """The app with a stage for each environment in the settings file: ``settings_path``,
    else the context's ``settings`` (``-c settings=PATH``), else ``$KENSHIN_AWS_SETTINGS``,
    else the example settings."""
    # Where `cdk synth` writes too: $CDK_OUTDIR (the CDK command line sets it), else cdk.out.
    app = App(outdir=outdir or os.environ.get("CDK_OUTDIR") or "cdk.out", context=FEATURES)
    chosen = app.node.try_get_context("settings") or os.environ.get("KENSHIN_AWS_SETTINGS")
    settings = load_settings(settings_path or (Path(chosen) if chosen else EXAMPLE))
    for name, stage in settings.stages.items():
        KenshinStage(app, name, stage)
    return app
