"""The ses alert channel on moto's SES: notifications as one plain-text mail, a whole mail
sent as it is, SES's refusals as channel failures that keep the notifications queued,
and its settings checked when the file is read."""

from __future__ import annotations

import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from aws_lambda.conftest import SENDER, Aws
from kenshin.adapters.channels import build_channel
from kenshin.adapters.channels.ses import SesChannel, SesSettings
from kenshin.adapters.memory import MemoryStore
from kenshin.config import DEFAULT_CONFIG_TEXT, load_settings
from kenshin.config_alerts import AlertsConfig, SesChannelConfig
from kenshin.domain.alerts import Alert, Event, Notification, Severity
from kenshin.errors import ConfigError
from kenshin.ports import ChannelError
from kenshin.services.alert_sending import NotificationSender
from moto_s3 import REGION
from test_ingest import T0

NOTE = Notification(
    Event.FIRING,
    Alert("dead_letters", Severity.WARNING, "Dead letters: 12 in 60 min", "Twelve.", None, T0),
    T0,
)


def channel(sender: str = SENDER) -> SesChannel:
    return SesChannel("ops-ses", SesSettings(sender, ("ops@example.org", "b@example.org"), REGION))


def test_notifications_go_as_one_plain_text_mail_to_every_address(aws: Aws) -> None:
    channel().send([NOTE, NOTE])
    [mail] = aws.mails()
    assert mail.source == SENDER
    assert mail.destinations["ToAddresses"] == ["ops@example.org", "b@example.org"]
    assert mail.subject == "[kenshin] 2 alert notifications (2 active, 0 resolved)"
    assert "Dead letters: 12 in 60 min" in mail.body


def test_a_whole_mail_goes_as_it_is_to_its_own_recipients_or_else_the_channels(
    aws: Aws,
) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "report", SENDER, "q@example.org"
    message.set_content("text")
    message.add_attachment(b"a,b\n", maintype="text", subtype="csv", filename="x.csv")
    channel().deliver(message)
    del message["To"]
    channel().deliver(message)
    first, second = aws.mails()
    assert first.destinations == ["q@example.org"]
    assert second.destinations == ["ops@example.org", "b@example.org"]
    assert 'filename="x.csv"' in first.raw_data


def test_a_mail_ses_refuses_is_a_channel_failure_and_stays_queued(aws: Aws) -> None:
    with pytest.raises(ChannelError, match=r"SES \(ap-northeast-1\) refused the mail: .*verified"):
        channel("other@example.com").send([NOTE])
    store = MemoryStore()
    store.alerts.save_round([], [], [("ops-ses", NOTE)])
    sender = NotificationSender(store.alerts, [channel("other@example.com")], AlertsConfig())
    assert sender.deliver(T0) == 0
    assert len(store.alerts.queued("ops-ses")) == 1
    assert aws.mails() == []


def test_an_ses_channel_is_built_from_its_settings(aws: Aws, tmp_path: Path) -> None:
    config = SesChannelConfig(type="ses", sender=SENDER, to=["ops@example.org"], region=REGION)
    built = build_channel("ops-ses", config, tmp_path, "site-a")
    built.send([NOTE])
    assert aws.mails()[0].subject == "[site-a WARNING] Dead letters: 12 in 60 min"


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ('sender = "k@example.org"\n', "alerts.channels.ops-ses.to"),
        ('sender = "k@example.org"\nto = []\n', "alerts.channels.ops-ses.to"),
        (
            'sender = "k@example.org"\nto = ["o@example.org"]\nrecipients = ["o@example.org"]\n',
            "alerts.channels.ops-ses.recipients: not a setting of channels of type 'ses'",
        ),
        (
            'sender = "k@example.org"\nto = ["o@example.org"]\nregion = "Tokyo"\n',
            "alerts.channels.ops-ses.region",
        ),
    ],
)
def test_wrong_ses_settings_are_refused_naming_the_key(
    tmp_path: Path, keys: str, said: str
) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT + '[alerts.channels.ops-ses]\ntype = "ses"\n' + keys)
    with pytest.raises(ConfigError, match=said.replace(".", r"\.")):
        load_settings(path, {})


def test_without_boto3_an_ses_channel_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in ("boto3", "botocore")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "boto3", None)  # None: "import boto3" fails
    with pytest.raises(ConfigError, match=r"needs boto3.*pip install 'kenshin\[aws\]'"):
        channel()
