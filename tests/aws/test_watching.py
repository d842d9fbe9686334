"""The alarms of the synthesized stages beyond dead letters and errors: every function
throttled, and the metrics kenshin's functions report (dead letters of ingest, export
failures, silent units), each to the operators."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import STAGES, Synthesized
from .test_templates import alarms, kenshins_functions, only

pytestmark = pytest.mark.integration


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, stages: dict[str, Synthesized]) -> Synthesized:
    return stages[request.param]


def alarm(stage: Synthesized, name: str) -> dict[str, Any]:
    (found,) = [a for a in alarms(stage) if a["AlarmName"] == f"kenshin-{stage.name}-{name}"]
    return found


def test_every_function_throttled_alarms_the_operators(stage: Synthesized) -> None:
    topic, _ = only(stage, "AWS::SNS::Topic")
    throttles = [a for a in alarms(stage) if a.get("MetricName") == "Throttles"]
    assert {a["Dimensions"][0]["Value"]["Ref"] for a in throttles} == set(kenshins_functions(stage))
    for found in throttles:
        assert found["Namespace"] == "AWS/Lambda"
        assert found["Threshold"] == 1
        assert found["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert found["AlarmActions"] == found["OKActions"] == [{"Ref": topic}]


@pytest.mark.parametrize(
    ("name", "metric", "statistic", "period", "periods"),
    [
        ("IngestDeadLetters", "DeadLetters", "Sum", 300, 1),
        ("ExportFailures", "ExportFailures", "Sum", 300, 1),
        # Units silent in two runs of the alert rules (every 5 minutes) in a row.
        ("SilentUnits", "SilentUnits", "Maximum", 300, 2),
    ],
)
def test_kenshins_own_metrics_alarm_the_operators(
    stage: Synthesized, name: str, metric: str, statistic: str, period: int, periods: int
) -> None:
    found = alarm(stage, name)
    assert found["Namespace"] == "kenshin"
    assert found["MetricName"] == metric
    assert found["Dimensions"] == [{"Name": "Stage", "Value": f"kenshin-{stage.name}"}]
    assert (found["Statistic"], found["Period"], found["EvaluationPeriods"]) == (
        statistic,
        period,
        periods,
    )
    assert (found["Threshold"], found["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert found["TreatMissingData"] == "notBreaching"


def test_the_export_failing_alarms_as_its_errors_do(stage: Synthesized) -> None:
    export, _ = only(
        stage, "AWS::Lambda::Function", Handler="kenshin.entrypoints.aws_lambda.export.handler"
    )
    errors = alarm(stage, "ExportErrors")
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": export}}]
    assert "export" in errors["AlarmDescription"]
