"""kenshin's functions in the synthesized stages: each with kenshin's packages and its
site configuration as layers, kenshin's jobs on their schedules, mail through SES from
the one sender; and a stage without its layer of packages is not synthesized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import INFRA, STAGES, Synthesized
from .test_templates import kenshins_functions, only, text

pytestmark = pytest.mark.integration

HANDLERS = "kenshin.entrypoints.aws_lambda"


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def function(stage: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    return only(stage, "AWS::Lambda::Function", Handler=f"{HANDLERS}.{name}.handler")


def layer(stage: Synthesized, description: str) -> tuple[str, dict[str, Any]]:
    found = [
        (i, r["Properties"])
        for i, r in stage.template.find_resources("AWS::Lambda::LayerVersion").items()
        if r["Properties"]["Description"].startswith(description)
    ]
    assert len(found) == 1, found
    return found[0]


def test_every_function_has_kenshins_packages_and_site_configuration(
    stage: Synthesized,
) -> None:
    packages, _ = layer(stage, "kenshin's third-party packages")
    config, properties = layer(stage, "kenshin's site configuration")
    assert properties["CompatibleRuntimes"] == ["python3.12"]
    assert properties["CompatibleArchitectures"] == ["arm64"]
    functions = kenshins_functions(stage)
    assert {f["Handler"].split(".")[-2] for f in functions.values()} == {
        "ingest",
        "export",
        "watch",
        "report",
        "identity",
    }
    for properties in functions.values():
        assert properties["Layers"] == [{"Ref": packages}, {"Ref": config}]
        assert properties["Architectures"] == ["arm64"]
        variables = properties["Environment"]["Variables"]
        assert variables["KENSHIN_CONFIG"] == "/opt/kenshin/kenshin.toml"
        assert variables["KENSHIN_AWS_STAGE"] == f"kenshin-{stage.name}"


def test_the_configuration_layer_holds_the_settings_kenshin_toml_only(
    stage: Synthesized,
) -> None:
    _, properties = layer(stage, "kenshin's site configuration")
    asset = properties["Content"]["S3Key"].removesuffix(".zip")
    folder = stage.template_file.parents[1] / f"asset.{asset}"
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    assert files == ["kenshin/kenshin.toml"]
    example = (INFRA / "kenshin.aws.example.toml").read_bytes()
    assert (folder / "kenshin" / "kenshin.toml").read_bytes() == example


def schedules(stage: Synthesized, logical_id: str) -> list[str]:
    target = {"Fn::GetAtt": [logical_id, "Arn"]}
    return sorted(
        r["Properties"]["ScheduleExpression"]
        for r in stage.template.find_resources("AWS::Events::Rule").values()
        if [t["Arn"] for t in r["Properties"].get("Targets", [])] == [target]
        and "ScheduleExpression" in r["Properties"]
    )


def test_kenshins_alert_rules_run_every_5_minutes_and_its_report_daily(
    stage: Synthesized,
) -> None:
    watch, _ = function(stage, "watch")
    report, _ = function(stage, "report")
    assert schedules(stage, watch) == ["rate(5 minutes)"]
    assert schedules(stage, report) == ["cron(0 23 * * ? *)"]  # 08:00 in Tokyo


def mail_statements(stage: Synthesized, logical_id: str) -> list[dict[str, Any]]:
    role = kenshins_functions(stage)[logical_id]["Role"]["Fn::GetAtt"][0]
    return [
        s
        for p in stage.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("ses:") for a in _list(s["Action"]))
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_only_the_watch_and_report_may_mail_and_only_as_the_sender(stage: Synthesized) -> None:
    account = {"staging": "111111111111", "production": "222222222222"}[stage.name]
    for name in ("watch", "report"):
        (statement,) = mail_statements(stage, function(stage, name)[0])
        assert sorted(statement["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
        assert [text(r) for r in statement["Resource"]] == [
            f"arn:${{AWS::Partition}}:ses:ap-northeast-1:{account}:identity/{identity}"
            for identity in ("alerts@example.org", "example.org")
        ]
        assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": "alerts@example.org"}}
    for name in ("ingest", "export", "identity"):
        assert mail_statements(stage, function(stage, name)[0]) == []


def test_a_stage_without_its_packages_layer_says_how_to_build_it(cdk: None, tmp_path: Path) -> None:
    from kenshin_infra.settings import SettingsError
    from kenshin_infra.stage import build_app

    from .conftest import example_settings

    settings = example_settings(tmp_path, tmp_path / "not-built")
    with pytest.raises(SettingsError, match=r"python infra/build_layer\.py .*not-built"):
        build_app(settings, outdir=str(tmp_path / "out"))


def test_the_jobs_the_cluster_s_leader_runs_alone_never_run_twice_at_once(
    stage: Synthesized,
) -> None:
    concurrency = {
        f["Handler"].split(".")[-2]: f.get("ReservedConcurrentExecutions")
        for f in kenshins_functions(stage).values()
    }
    # Two exports at once would both publish a day's revision; ingest scales out.
    assert concurrency == {
        "export": 1,
        "watch": 1,
        "report": 1,
        "ingest": None,
        "identity": 4,  # logins checked at once: each sees the failures counted before
    }
