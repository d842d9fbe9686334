"""The AWS build's CDK app: ``cdk synth`` (or ``python infra/app.py``) writes the cloud
assembly, a stage per environment, to ``$CDK_OUTDIR`` (``cdk.out`` without it). The
settings file is ``-c settings=PATH`` (or ``$KENSHIN_AWS_SETTINGS``), else the example."""

from __future__ import annotations

from kenshin_infra.stage import build_app

if __name__ == "__main__":
    build_app().synth()
