"""kenshin's store in the synthesized stages: the DynamoDB store's two tables, on demand,
recoverable to any second of 35 days, encrypted with the stage's key and kept; and what
each function may do with them, every action named."""

from __future__ import annotations

from typing import Any

import pytest

from kenshin.adapters.dynamo_tables import TABLES

from .conftest import STAGES, Synthesized
from .test_templates import kenshins_functions, key_arn

pytestmark = pytest.mark.integration

ITEM_READS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
ITEM_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}
STORE = {*ITEM_READS, *ITEM_WRITES, "dynamodb:DescribeTable"}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def tables(stage: Synthesized) -> dict[str, str]:
    """The tables' logical ids by kind (readings, records)."""
    found = stage.template.find_resources("AWS::DynamoDB::Table")
    prefix = f"kenshin-{stage.name}-"
    return {t["Properties"]["TableName"].removeprefix(prefix): i for i, t in found.items()}


def granted(stage: Synthesized, logical_id: str) -> dict[str, set[str]]:
    """What the role of the function ``logical_id`` may do on DynamoDB and KMS: the
    actions, by resource (as its JSON)."""
    role = kenshins_functions(stage)[logical_id]["Role"]["Fn::GetAtt"][0]
    found: dict[str, set[str]] = {}
    for policy in stage.template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                for action in actions:
                    if action.startswith(("dynamodb:", "kms:")):
                        found.setdefault(repr(resource), set()).add(action)
    return found


def arn(logical_id: str) -> str:
    return repr({"Fn::GetAtt": [logical_id, "Arn"]})


def test_the_two_tables_are_the_stores_on_demand_recoverable_encrypted_and_kept(
    stage: Synthesized,
) -> None:
    found = tables(stage)
    assert set(found) == set(TABLES) == {"readings", "records"}
    for kind, logical_id in found.items():
        resource = stage.json["Resources"][logical_id]
        assert resource["DeletionPolicy"] == "Retain"
        table = resource["Properties"]
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionProtectionEnabled"] is True
        assert table["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": key_arn(stage),
        }
        (hash_key, hash_type), (range_key, range_type) = TABLES[kind]
        assert table["KeySchema"] == [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ]
        assert {
            (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
        } == {
            (hash_key, hash_type),
            (range_key, range_type),
        }


def test_every_function_is_told_the_stages_store(stage: Synthesized) -> None:
    functions = kenshins_functions(stage)
    assert len(functions) == 5
    for function in functions.values():
        variables: dict[str, Any] = function["Environment"]["Variables"]
        assert variables["KENSHIN_STORE__URL"] == f"dynamodb://kenshin-{stage.name}-"
        assert variables["KENSHIN_DATA_DIR"] == "/tmp/kenshin"


def test_the_functions_using_the_store_may_use_its_items_and_nothing_else(
    stage: Synthesized,
) -> None:
    found = tables(stage)
    users = [
        i
        for i, f in kenshins_functions(stage).items()
        if not f["Handler"].endswith(".identity.handler")
    ]
    assert len(users) == 4  # ingest, export, watch, report
    for function in users:
        assert granted(stage, function) == {
            arn(found["readings"]): STORE,
            arn(found["records"]): STORE,
            repr(key_arn(stage)): {"kms:Decrypt", "kms:Encrypt"}
            | (
                {"kms:GenerateDataKey"}  # the export also writes the files with the key
                if kenshins_functions(stage)[function]["Handler"].endswith(".export.handler")
                else set()
            ),
        }


def test_the_identity_function_reads_the_records_table_and_writes_only_its_logins(
    stage: Synthesized,
) -> None:
    found = tables(stage)
    (identity,) = [
        i
        for i, f in kenshins_functions(stage).items()
        if f["Handler"].endswith(".identity.handler")
    ]
    assert granted(stage, identity) == {
        arn(found["records"]): {*ITEM_READS, *ITEM_WRITES, "dynamodb:DescribeTable"},
        repr(key_arn(stage)): {"kms:Decrypt", "kms:Encrypt"},
    }
    role = kenshins_functions(stage)[identity]["Role"]["Fn::GetAtt"][0]
    [writes] = [
        statement
        for policy in stage.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:PutItem" in statement["Action"]
    ]
    # Failed logins, security events and their counters: never an account or a reading.
    assert writes["Condition"] == {
        "ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": [
                "login_failure",
                "login_failure#*",
                "security_event",
                "counter",
            ]
        }
    }
