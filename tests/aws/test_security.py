"""Security watching in the synthesized stages: every API call on an encrypted trail,
GuardDuty and Security Hub on, and their serious findings to the operators."""

from __future__ import annotations

import pytest

from .conftest import STAGES, Synthesized
from .test_templates import key_arn, only, text

pytestmark = pytest.mark.integration


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def test_every_api_call_is_kept_on_an_encrypted_trail(stage: Synthesized) -> None:
    _, trail = only(stage, "AWS::CloudTrail::Trail")
    assert trail["KMSKeyId"] == key_arn(stage)
    assert trail["EnableLogFileValidation"] is True
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    _, key = only(stage, "AWS::KMS::Key")
    allowed = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
    ]
    (encrypt,) = [s for s in allowed if s["Action"] == "kms:GenerateDataKey*"]
    condition = encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]
    assert text(condition) == "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"


def test_serious_findings_go_to_the_alarm_topic(stage: Synthesized) -> None:
    stage.template.resource_count_is("AWS::GuardDuty::Detector", 1)
    # Its default standards: AWS Foundational Security Best Practices and CIS's.
    only(stage, "AWS::SecurityHub::Hub", EnableDefaultStandards=True)
    topic, _ = only(stage, "AWS::SNS::Topic")
    rules = [
        r["Properties"]
        for r in stage.template.find_resources("AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    ]
    assert {r["EventPattern"]["source"][0] for r in rules} == {
        "aws.guardduty",
        "aws.securityhub",
    }
    for rule in rules:
        assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": topic}]
    (guardduty,) = [r for r in rules if r["EventPattern"]["source"] == ["aws.guardduty"]]
    assert guardduty["EventPattern"]["detail"] == {"severity": [{"numeric": [">=", 7]}]}
