"""The operators' group in the synthesized stages: without MFA, nothing but setting up
one's own MFA device; with it, reading the stage's alarms, metrics and logs."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import STAGES, Synthesized
from .test_templates import only, text

pytestmark = pytest.mark.integration

WITHOUT_MFA = {
    "iam:GetAccountPasswordPolicy",
    "iam:ChangePassword",
    "iam:GetUser",
    "iam:ListVirtualMFADevices",
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetMFADevice",
    "iam:ListMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def statements(stage: Synthesized) -> dict[str, dict[str, Any]]:
    group, _ = only(stage, "AWS::IAM::Group", GroupName=f"kenshin-{stage.name}-operators")
    _, policy = only(stage, "AWS::IAM::ManagedPolicy")
    assert policy["Groups"] == [{"Ref": group}]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_operators_without_mfa_may_do_nothing_but_set_it_up(stage: Synthesized) -> None:
    deny = statements(stage)["NothingElseWithoutMfa"]
    assert deny["Effect"] == "Deny"
    assert "Action" not in deny
    assert set(deny["NotAction"]) == WITHOUT_MFA
    assert deny["Resource"] == "*"
    assert deny["Condition"] == {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    own = statements(stage)["OwnPasswordAndMfa"]
    assert (
        text(own["Resource"]) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/${aws:username}"
    )


def test_operators_read_the_stages_alarms_and_logs_and_change_nothing(
    stage: Synthesized,
) -> None:
    found = statements(stage)
    watch = found["WatchAlarmsAndMetrics"]
    assert "cloudwatch:DescribeAlarms" in watch["Action"]
    logs = found["ReadTheStagesLogs"]
    groups = stage.template.find_resources("AWS::Logs::LogGroup")
    assert sorted(r["Fn::GetAtt"][0] for r in logs["Resource"]) == sorted(groups)
    readonly = ("Describe", "Get", "List", "Filter", "StartQuery")
    for statement in (watch, logs):
        for action in statement["Action"]:
            assert action.split(":")[1].startswith(readonly), action


def test_the_stack_makes_no_user(stage: Synthesized) -> None:
    stage.template.resource_count_is("AWS::IAM::User", 0)
    stage.template.resource_count_is("AWS::IAM::UserToGroupAddition", 0)
