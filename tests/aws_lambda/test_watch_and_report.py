"""The watch and report functions: alerts and the daily report mailed through an ses
channel (SES on moto), and the metric ``SilentUnits`` in the log."""

from __future__ import annotations

from email import message_from_string, policy
from pathlib import Path

import pytest

from aws_lambda.conftest import SENDER, Aws, iot_body, lambda_site, metrics
from conftest import kenshin
from kenshin.entrypoints.aws_lambda import ingest, report, runtime, watch
from kenshin.errors import ConfigError
from test_ingest import T0, message

HOUR = 3600
SES_CHANNEL = f"""
[alerts.channels.ops-ses]
type = "ses"
sender = "{SENDER}"
to = ["ops@example.org"]
region = "ap-northeast-1"

[[alerts.routes]]
channel = "ops-ses"
"""


@pytest.fixture
def site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: Aws, store_env: dict[str, str]
) -> Path:
    """A site whose units U-1 and U-2 were last heard at T0, alerts mailed through SES."""
    site = lambda_site(tmp_path, monkeypatch, store_env, SES_CHANNEL)
    monkeypatch.setenv("KENSHIN_REPORT__CHANNEL", "ops-ses")
    assert kenshin(site, "devices", "add", "U-1", "U-2", "--customer", "C-001").exit_code == 0
    aws.send([iot_body(u, message(device=u, meter=f"M-{u}"), T0) for u in ("U-1", "U-2")])
    assert aws.drain(ingest.handler) == []
    return site


def test_units_silent_by_the_rules_are_mailed_once_and_counted_in_the_metric(
    site: Path,
    aws: Aws,
    cold: runtime.ColdStart,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(runtime, "clock", lambda: T0 + 5 * HOUR)
    assert watch.handler({}, None)["silent_units"] == 0
    assert aws.mails() == []
    monkeypatch.setattr(runtime, "clock", lambda: T0 + 7 * HOUR)  # past alerts.silent_hours
    done = watch.handler({}, None)
    assert done["silent_units"] == 2
    assert done["active"] == ["silent:C-001"]
    [mail] = aws.mails()
    assert mail.source == SENDER
    assert mail.destinations["ToAddresses"] == ["ops@example.org"]
    assert mail.subject == "[kenshin WARNING] Units silent: customer C-001 (2)"
    assert "U-1 (last 2026-11-26 12:30 JST" in mail.body
    watch.handler({}, None)  # the same alert: not sent again before alerts.repeat_minutes
    assert len(aws.mails()) == 1
    found = metrics(capsys.readouterr().out)
    assert [m["SilentUnits"] for m in found] == [0, 2, 2]
    assert found[-1]["Stage"] == "staging"
    assert found[-1]["_aws"] == {
        "Timestamp": (T0 + 7 * HOUR) * 1000,
        "CloudWatchMetrics": [
            {
                "Namespace": "kenshin",
                "Dimensions": [["Stage"]],
                "Metrics": [{"Name": "SilentUnits", "Unit": "Count"}],
            }
        ],
    }


def test_the_report_of_the_day_before_is_mailed_whole_through_ses(
    site: Path, aws: Aws, cold: runtime.ColdStart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "clock", lambda: T0 + 20 * HOUR)  # 2026-11-27 08:30 JST
    assert report.handler({}, None) == {"sent": "2026-11-26", "recipients": ["ops@example.org"]}
    [mail] = aws.mails()
    assert (mail.source, mail.destinations) == (SENDER, ["ops@example.org"])
    sent = message_from_string(mail.raw_data, policy=policy.default)
    assert sent["Subject"].startswith("kenshin data quality 2026-11-26:")
    assert [part.get_filename() for part in sent.iter_attachments()] == [
        "kenshin-quality-2026-11-26.csv",
        "kenshin-arrivals-2026-11-26.csv",  # how the day's messages spread over the half hour
    ]
    text = sent.get_body(("plain",))
    assert text is not None
    assert "U-1" in text.get_content()


def test_the_report_without_a_channel_to_go_through_is_an_error_naming_the_key(
    site: Path, aws: Aws, cold: runtime.ColdStart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENSHIN_REPORT__CHANNEL", "")
    cold.reset()  # a function deployed with these settings
    with pytest.raises(ConfigError, match=r"report\.channel: set it to an email or ses channel"):
        report.handler({}, None)
    assert aws.mails() == []
