"""Customers' SFTP in the synthesized stages: a Transfer Family server on the files
bucket whose customers may list and read, nothing more."""

from __future__ import annotations

import pytest

from .conftest import STAGES, Synthesized
from .test_templates import files_bucket, key_arn, only

pytestmark = pytest.mark.integration


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def test_customers_collect_over_sftp_only_with_current_algorithms(stage: Synthesized) -> None:
    _, server = only(stage, "AWS::Transfer::Server")
    assert server["Protocols"] == ["SFTP"]
    assert server["Domain"] == "S3"
    assert server["IdentityProviderType"] == "SERVICE_MANAGED"
    assert server["SecurityPolicyName"] == "TransferSecurityPolicy-2024-01"
    (logs,) = server["StructuredLogDestinations"]
    assert logs["Fn::GetAtt"][1] == "Arn"


def test_a_customer_may_list_and_read_the_files_and_nothing_else(stage: Synthesized) -> None:
    bucket, _ = files_bucket(stage)
    role, properties = only(
        stage,
        "AWS::IAM::Role",
        Description="A customer's SFTP user: list and read files, under its home only",
    )
    assert properties["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "transfer.amazonaws.com"
    }
    (policy,) = [
        p["Properties"]
        for p in stage.template.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role}]
    ]
    granted = {
        (s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"])): s["Resource"]
        for s in policy["PolicyDocument"]["Statement"]
    }
    assert granted == {
        "s3:GetObject": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]},
        "s3:ListBucket": {"Fn::GetAtt": [bucket, "Arn"]},
        "kms:Decrypt": key_arn(stage),
    }
