"""The AWS build's CDK app: ``cdk synth`` (or ``python infra/app.py``) writes the cloud
assembly, a stage per environment, to ``$CDK_OUTDIR`` (``cdk.out`` without it). The
settings file is ``-c settings=PATH`` (or ``$KENSHIN_AWS_SETTINGS``), else the example.
Settings that cannot be used stop it with a message saying why."""

from __future__ import annotations

import sys

from kenshin_infra.settings import SettingsError
from kenshin_infra.stage import build_app

if __name__ == "__main__":
    try:
        build_app().synth()
    except SettingsError as exc:
        sys.exit(f"settings: {exc}")
