"""What the synthesized stages hold, checked on their templates (aws_cdk.assertions):
units confined to their own topics, the ingest queue and its dead letters, the files
bucket, and the alarms."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import STAGES, Synthesized

pytestmark = pytest.mark.integration

THING = "${iot:Connection.Thing.ThingName}"
EXPORT = "kenshin.entrypoints.aws_lambda.export.handler"
ARN = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:"


def text(value: Any) -> str:
    """An ARN or name of the template as text: a Fn::Join's parts joined, each Ref as
    ``${Name}``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"${{{value['Ref']}}}"
    if "Fn::GetAtt" in value:
        return f"${{{'.'.join(value['Fn::GetAtt'])}}}"
    separator, parts = value["Fn::Join"]
    return str(separator).join(text(part) for part in parts)


def only(stage: Synthesized, kind: str, **properties: Any) -> tuple[str, dict[str, Any]]:
    """The one resource of ``kind`` with these properties: (logical id, its properties)."""
    from aws_cdk.assertions import Match

    found = stage.template.find_resources(kind, {"Properties": Match.object_like(properties)})
    assert len(found) == 1, f"{len(found)} {kind} with {properties}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource["Properties"]


def present() -> Any:
    """Matches a property that is there."""
    from aws_cdk.assertions import Match

    return Match.any_value()


def absent() -> Any:
    """Matches a property that is not there."""
    from aws_cdk.assertions import Match

    return Match.absent()


def files_bucket(stage: Synthesized) -> tuple[str, dict[str, Any]]:
    """The one bucket encrypted with KMS: (logical id, its properties)."""
    found = [
        (logical_id, resource["Properties"])
        for logical_id, resource in stage.template.find_resources("AWS::S3::Bucket").items()
        if _algorithm(resource["Properties"]) == "aws:kms"
    ]
    assert len(found) == 1, found
    return found[0]


def _algorithm(bucket: dict[str, Any]) -> str:
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    return str(rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"])


def key_arn(stage: Synthesized) -> dict[str, Any]:
    (key,) = stage.template.find_resources("AWS::KMS::Key")
    return {"Fn::GetAtt": [key, "Arn"]}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def test_a_unit_connects_only_as_its_thing_and_uses_only_its_own_topics(
    stage: Synthesized,
) -> None:
    _, policy = only(stage, "AWS::IoT::Policy")
    statements = {s["Action"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    connect = statements["iot:Connect"]
    assert text(connect["Resource"]) == f"{ARN}client/{THING}"
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert text(statements["iot:Publish"]["Resource"]) == f"{ARN}topic/dt/kenshin/{THING}/*"
    assert [text(r) for r in statements["iot:Subscribe"]["Resource"]] == [
        f"{ARN}topicfilter/cmd/kenshin/{THING}/#",
        f"{ARN}topicfilter/cmd/kenshin/{THING}/resend",
    ]
    assert [text(r) for r in statements["iot:Receive"]["Resource"]] == [
        f"{ARN}topic/cmd/kenshin/{THING}/resend"
    ]


def iot_statements(stage: Synthesized, function: str) -> list[dict[str, Any]]:
    """The statements of the function's role that allow IoT actions."""
    role = kenshins_functions(stage)[function]["Role"]["Fn::GetAtt"][0]
    return [
        s
        for p in stage.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("iot:") for a in _listed(s["Action"]))
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_only_the_export_sends_commands_and_only_on_the_units_command_topics(
    stage: Synthesized,
) -> None:
    from kenshin.domain.commands import RESEND, command_topic

    export, properties = only(stage, "AWS::Lambda::Function", Handler=EXPORT)
    variables = properties["Environment"]["Variables"]
    assert variables["KENSHIN_IOT_CORE__ENABLED"] == "true"
    assert variables["KENSHIN_IOT_CORE__POLICY"] == f"kenshin-{stage.name}-kenshin-unit"
    publish, endpoint = iot_statements(stage, export)
    assert sorted(publish["Action"]) == ["iot:Publish", "iot:RetainPublish"]
    assert [text(r) for r in _listed(publish["Resource"])] == [
        f"{ARN}topic/{command_topic('*', name)}" for name in (RESEND,)
    ]
    assert (endpoint["Action"], endpoint["Resource"]) == ("iot:DescribeEndpoint", "*")
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in (publish, endpoint))
    others = [f for f in kenshins_functions(stage) if f != export]
    assert len(others) == 4
    assert [s for f in others for s in iot_statements(stage, f)] == []


def test_kenshins_ca_is_registered_without_auto_registration(stage: Synthesized) -> None:
    _, ca = only(stage, "AWS::IoT::CACertificate")
    assert ca["CACertificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert ca["Status"] == "ACTIVE"
    assert ca["AutoRegistrationStatus"] == "DISABLE"
    assert ca["CertificateMode"] == "SNI_ONLY"  # the example gives no verification certificate


def test_the_rule_puts_the_units_data_on_the_queue_with_the_device(stage: Synthesized) -> None:
    _, rule = only(stage, "AWS::IoT::TopicRule")
    payload = rule["TopicRulePayload"]
    sql = payload["Sql"]
    assert "topic(3) AS device" in sql
    assert "FROM 'dt/kenshin/+/+'" in sql
    for kind in ("readings", "echonet", "status"):
        assert f"topic(4) = '{kind}'" in sql
    queue, _ = only(stage, "AWS::SQS::Queue", RedrivePolicy=present())
    dead_letters, _ = only(stage, "AWS::SQS::Queue", RedrivePolicy=absent())
    (action,) = payload["Actions"]
    assert action["Sqs"]["QueueUrl"] == {"Ref": queue}
    assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": dead_letters}


def test_the_queue_and_its_dead_letters_are_encrypted_with_the_stages_key(
    stage: Synthesized,
) -> None:
    stage.template.resource_count_is("AWS::SQS::Queue", 2)
    queues = stage.template.find_resources("AWS::SQS::Queue")
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == key_arn(stage)
    _, key = only(stage, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True


def test_a_message_that_keeps_failing_goes_to_the_dead_letter_queue(stage: Synthesized) -> None:
    dead_letters, _ = only(stage, "AWS::SQS::Queue", RedrivePolicy=absent())
    _, queue = only(stage, "AWS::SQS::Queue", RedrivePolicy=present())
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
        "maxReceiveCount": 5,
    }


def test_the_ingest_function_reports_the_messages_of_a_batch_it_could_not_store(
    stage: Synthesized,
) -> None:
    queue, _ = only(stage, "AWS::SQS::Queue", RedrivePolicy=present())
    function, properties = only(
        stage, "AWS::Lambda::Function", Handler="kenshin.entrypoints.aws_lambda.ingest.handler"
    )
    assert properties["Runtime"] == "python3.12"
    _, mapping = only(stage, "AWS::Lambda::EventSourceMapping")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert mapping["FunctionName"] == {"Ref": function}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_the_files_bucket_is_encrypted_versioned_private_and_logged(stage: Synthesized) -> None:
    _, bucket = files_bucket(stage)
    logs = bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert "LoggingConfiguration" not in stage.json["Resources"][logs]["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn(stage),
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"),
        True,
    )


def test_files_are_kept_45_days(stage: Synthesized) -> None:
    _, bucket = files_bucket(stage)
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "ExpirationInDays" in r]
    assert [(r["ExpirationInDays"], r["Status"]) for r in expiring] == [(45, "Enabled")]
    assert "Prefix" not in expiring[0]  # every file


def test_the_buckets_refuse_requests_without_tls(stage: Synthesized) -> None:
    buckets = stage.template.find_resources("AWS::S3::Bucket")
    policies = stage.template.find_resources("AWS::S3::BucketPolicy")
    by_bucket = {p["Properties"]["Bucket"]["Ref"]: p["Properties"] for p in policies.values()}
    assert set(by_bucket) == set(buckets)
    for bucket, policy in by_bucket.items():
        denied = [
            s
            for s in policy["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(denied) == 1, bucket
        assert denied[0]["Action"] == "s3:*"
        assert denied[0]["Principal"] == {"AWS": "*"}


def test_the_export_runs_every_30_minutes_and_at_day_close_on_the_files_bucket(
    stage: Synthesized,
) -> None:
    function, export = only(stage, "AWS::Lambda::Function", Handler=EXPORT)
    bucket, _ = files_bucket(stage)
    variables = export["Environment"]["Variables"]
    assert text(variables["KENSHIN_EXPORT__OUTBOX"]) == f"s3://${{{bucket}}}/"
    assert variables["KENSHIN_EXPORT__OUTBOX_KMS_KEY"] == key_arn(stage)
    rules = [
        r["Properties"]
        for r in stage.template.find_resources("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert sorted(r["ScheduleExpression"] for r in rules) == [
        "cron(15 0 * * ? *)",  # 00:15 UTC: the day just closed, once more
        "rate(30 minutes)",
    ]


def kenshins_functions(stage: Synthesized) -> dict[str, dict[str, Any]]:
    """kenshin's functions (not CDK's own), by logical id: their properties."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in stage.template.find_resources("AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"].startswith("kenshin.")
    }


def alarms(stage: Synthesized) -> list[dict[str, Any]]:
    return [
        a["Properties"] for a in stage.template.find_resources("AWS::CloudWatch::Alarm").values()
    ]


def test_dead_letters_and_function_errors_alarm_the_operators(stage: Synthesized) -> None:
    topic, properties = only(stage, "AWS::SNS::Topic")
    assert properties["KmsMasterKeyId"] == key_arn(stage)
    dead_letters, _ = only(stage, "AWS::SQS::Queue", RedrivePolicy=absent())
    for alarm in alarms(stage):
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["AlarmName"].startswith(f"kenshin-{stage.name}-")
    watched = {(a.get("Namespace"), a.get("MetricName")) for a in alarms(stage)}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched
    dead_letter_alarm = next(
        a for a in alarms(stage) if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    )
    assert dead_letter_alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters, "QueueName"]}}
    ]
    errors = [
        a
        for a in alarms(stage)
        if (a.get("Namespace"), a.get("MetricName")) == ("AWS/Lambda", "Errors")
    ]
    assert {a["Dimensions"][0]["Value"]["Ref"] for a in errors} == set(kenshins_functions(stage))


def test_no_policy_allows_a_wildcard_action(stage: Synthesized) -> None:
    documents = [
        p["Properties"]["PolicyDocument"]
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for p in stage.template.find_resources(kind).values()
    ]
    documents += [
        inline["PolicyDocument"]
        for role in stage.template.find_resources("AWS::IAM::Role").values()
        for inline in role["Properties"].get("Policies", [])
    ]
    allowed = [s for d in documents for s in d["Statement"] if s["Effect"] == "Allow"]
    assert len(allowed) > 20
    for statement in allowed:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, statement


def test_each_stage_has_its_own_account_and_names(stages: dict[str, Synthesized]) -> None:
    assert {name: s.account for name, s in stages.items()} == {
        "staging": "111111111111",
        "production": "222222222222",
    }
    names = {name: only(s, "AWS::IoT::Policy")[1]["PolicyName"] for name, s in stages.items()}
    assert names == {
        "staging": "kenshin-staging-kenshin-unit",
        "production": "kenshin-production-kenshin-unit",
    }
