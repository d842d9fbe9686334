"""The stages pass cdk-nag's AwsSolutions rules (each finding acknowledged in code says
why), the CDK's own CloudFormation validation and cfn-lint, with no finding left."""

from __future__ import annotations

import json

import pytest

from .conftest import STAGES, Synthesized

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", STAGES)
def test_cdk_nag_finds_nothing_unacknowledged(name: str, stages: dict[str, Synthesized]) -> None:
    findings = [
        f"{level} {path}: {text[:200]}"
        for level, path, text in stages[name].messages
        if level in ("error", "warning")
    ]
    assert findings == []


@pytest.mark.parametrize("name", STAGES)
def test_each_acknowledged_finding_says_why(name: str, stages: dict[str, Synthesized]) -> None:
    acknowledged = [
        rule
        for resource in stages[name].json["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert acknowledged  # the Lambda runtime's, at least
    for rule in acknowledged:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule["reason"]) >= 40, rule


def test_cdk_nag_would_report_a_finding(
    cdk: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from aws_cdk import App, Aspects, Stack
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    # The check above is not empty because nothing was checked: a queue without
    # encryption, TLS or dead-letter queue is reported the same way.
    app = App(outdir=str(tmp_path_factory.mktemp("nag")))
    stack = Stack(app, "Careless")
    sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    Aspects.of(app).add(AwsSolutionsChecks())
    messages = app.synth().get_stack_by_name("Careless").messages
    errors = {str(m.entry.data).split(":")[0] for m in messages if m.level.value.lower() == "error"}
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= errors


@pytest.mark.parametrize("name", STAGES)
def test_cfn_lint_finds_nothing(name: str, stages: dict[str, Synthesized]) -> None:
    pytest.importorskip("cfnlint", reason="cfn-lint (the 'dev' extra) is not installed")
    from cfnlint.api import lint

    stage = stages[name]
    found = lint(stage.template_file.read_text(encoding="utf-8"), regions=[stage.region])
    assert [str(match) for match in found] == []
    assert json.loads(stage.template_file.read_text(encoding="utf-8")) == stage.json


def test_the_cdks_own_validation_finds_nothing_unacknowledged(
    stages: dict[str, Synthesized],
) -> None:
    (outdir,) = {stage.template_file.parents[1] for stage in stages.values()}
    report = json.loads((outdir / "validation-report.json").read_text(encoding="utf-8"))
    assert report["pluginReports"]
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]
        for acknowledged in plugin.get("suppressedViolations", []):
            assert len(acknowledged["reason"]) >= 40, acknowledged
