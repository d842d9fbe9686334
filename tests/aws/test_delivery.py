"""Customers' files in the synthesized stages: Transfer Family servers on the files
bucket, SFTP in public and FTPS in a VPC reached from the customers' networks only,
whose customers may list and read, nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import STAGES, Synthesized
from .test_templates import files_bucket, key_arn, only, text

pytestmark = pytest.mark.integration

IDENTITY = "kenshin.entrypoints.aws_lambda.identity.handler"
CLIENTS = {
    "staging": ["192.168.0.0/16"],
    "production": ["192.168.0.0/16", "172.20.0.0/16"],
}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def server(stage: Synthesized, protocol: str) -> tuple[str, dict[str, Any]]:
    return only(stage, "AWS::Transfer::Server", Protocols=[protocol])


def customer_role(stage: Synthesized) -> tuple[str, dict[str, Any]]:
    return only(
        stage,
        "AWS::IAM::Role",
        Description="A customer's session: list and read files, under its home only",
    )


def test_customers_collect_over_sftp_with_current_algorithms(stage: Synthesized) -> None:
    _, sftp = server(stage, "SFTP")
    assert sftp["Domain"] == "S3"
    assert sftp["EndpointType"] == "PUBLIC"
    assert sftp["IdentityProviderType"] == "SERVICE_MANAGED"
    assert sftp["SecurityPolicyName"] == "TransferSecurityPolicy-2024-01"
    (logs,) = sftp["StructuredLogDestinations"]
    assert logs["Fn::GetAtt"][1] == "Arn"


def test_a_customer_may_list_and_read_the_files_and_nothing_else(stage: Synthesized) -> None:
    bucket, _ = files_bucket(stage)
    role, properties = customer_role(stage)
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


def test_ftps_is_served_in_the_vpc_logging_in_through_kenshins_identity_function(
    stage: Synthesized,
) -> None:
    function, identity = only(stage, "AWS::Lambda::Function", Handler=IDENTITY)
    _, ftps = server(stage, "FTPS")
    assert ftps["EndpointType"] == "VPC"
    assert ftps["IdentityProviderType"] == "AWS_LAMBDA"
    assert ftps["IdentityProviderDetails"] == {"Function": {"Fn::GetAtt": [function, "Arn"]}}
    assert ftps["Certificate"].startswith("arn:aws:acm:ap-northeast-1:")
    assert ftps["SecurityPolicyName"] == "TransferSecurityPolicy-2024-01"
    assert (
        ftps["StructuredLogDestinations"] == server(stage, "SFTP")[1]["StructuredLogDestinations"]
    )
    vpc, _ = only(stage, "AWS::EC2::VPC")
    details = ftps["EndpointDetails"]
    assert details["VpcId"] == {"Ref": vpc}
    subnets = stage.template.find_resources("AWS::EC2::Subnet")
    assert sorted(s["Ref"] for s in details["SubnetIds"]) == sorted(subnets)
    role, _ = customer_role(stage)
    bucket, _ = files_bucket(stage)
    variables = identity["Environment"]["Variables"]
    assert variables["KENSHIN_AWS_TRANSFER_ROLE_ARN"] == {"Fn::GetAtt": [role, "Arn"]}
    assert variables["KENSHIN_AWS_FILES_BUCKET"] == {"Ref": bucket}
    key, _ = only(stage, "AWS::KMS::Key")
    assert variables["KENSHIN_AWS_FILES_KMS_KEY"] == {"Fn::GetAtt": [key, "Arn"]}


def test_only_this_ftps_server_may_call_the_identity_function(stage: Synthesized) -> None:
    function, _ = only(stage, "AWS::Lambda::Function", Handler=IDENTITY)
    ftps, _ = server(stage, "FTPS")
    _, permission = only(
        stage,
        "AWS::Lambda::Permission",
        FunctionName={"Fn::GetAtt": [function, "Arn"]},
    )
    assert permission["Principal"] == "transfer.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceArn"] == {"Fn::GetAtt": [ftps, "Arn"]}


def test_ftps_is_reached_from_the_customers_networks_on_its_ports_only(
    stage: Synthesized,
) -> None:
    _, ftps = server(stage, "FTPS")
    (group,) = ftps["EndpointDetails"]["SecurityGroupIds"]
    rules = stage.json["Resources"][group["Fn::GetAtt"][0]]["Properties"]["SecurityGroupIngress"]
    allowed = {(r["CidrIp"], r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in rules}
    assert allowed == {
        (cidr, "tcp", *ports) for cidr in CLIENTS[stage.name] for ports in ((21, 21), (8192, 8200))
    }


def test_the_vpc_is_private_in_the_stages_zones_with_its_traffic_logged(
    stage: Synthesized,
) -> None:
    vpc, properties = only(stage, "AWS::EC2::VPC")
    assert (
        properties["CidrBlock"]
        == {"staging": "10.40.0.0/16", "production": "10.41.0.0/16"}[stage.name]
    )
    subnets = stage.template.find_resources("AWS::EC2::Subnet").values()
    assert sorted(s["Properties"]["AvailabilityZone"] for s in subnets) == [
        "ap-northeast-1a",
        "ap-northeast-1c",
        "ap-northeast-1d",
    ]
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route"):
        stage.template.resource_count_is(kind, 0)
    _, flow_log = only(stage, "AWS::EC2::FlowLog")
    assert flow_log["ResourceId"] == {"Ref": vpc}
    assert flow_log["TrafficType"] == "ALL"
    assert text(flow_log["LogDestinationType"]) == "cloud-watch-logs"
