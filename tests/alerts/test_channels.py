"""The channels against real servers: aiosmtpd, and a local HTTP server for Slack and
the webhook."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from kenshin.adapters.channels import BUILDERS, build_channel
from kenshin.adapters.channels.email import SmtpChannel, SmtpSettings
from kenshin.adapters.channels.ses import SesChannel
from kenshin.adapters.channels.slack import SlackChannel, slack_message
from kenshin.adapters.channels.web import HttpSettings
from kenshin.adapters.channels.webhook import WebhookChannel
from kenshin.config_alerts import CHANNEL_TYPES, ChannelConfig
from kenshin.domain.alerts import Alert, Event, Notification, Severity, body
from kenshin.errors import ConfigError
from kenshin.ports import ChannelError

from .conftest import PASSWORD, USER, HttpSink, MailServer, Tls, free_port

NOW = 1_795_752_000
ALERT = Alert(
    "ingest_stalled",
    Severity.CRITICAL,
    "Ingest stalled: 3 messages waiting",
    "3 received messages are waiting & <nothing> was committed.\nWhat to do: check the log.",
    "C1",
    NOW - 1200,
    "Asia/Tokyo",
)
FIRING = Notification(Event.FIRING, ALERT, NOW)
RESOLVED = Notification(Event.RESOLVED, ALERT, NOW + 600)


def smtp(server: MailServer, tls: Tls, security: str, *, login: bool = True) -> SmtpChannel:
    settings = SmtpSettings(
        "127.0.0.1",
        "kenshin@example.org",
        ("ops@example.org", "oncall@example.org"),
        port=server.port,
        security=security,
        username=USER if login else None,
        password=PASSWORD if login else None,
        timeout_s=5,
        ca_file=tls.ca_file,
    )
    return SmtpChannel("mail", settings, site="plant-7")


@pytest.mark.parametrize(
    ("mail_server", "security", "login"),
    [("starttls", "starttls", True), ("tls", "tls", False), ("plain", "none", False)],
    indirect=["mail_server"],
)
def test_email_arrives_with_subject_and_text(
    mail_server: MailServer, tls: Tls, security: str, login: bool
) -> None:
    smtp(mail_server, tls, security, login=login).send([FIRING])
    [(envelope, message)] = mail_server.mailbox.messages
    assert envelope.rcpt_tos == ["ops@example.org", "oncall@example.org"]
    assert message["Subject"] == "[plant-7 CRITICAL] Ingest stalled: 3 messages waiting"
    assert message["From"] == "kenshin@example.org"
    assert message.get_content().replace("\r\n", "\n") == body(FIRING) + "\n"
    assert "Since: 2026-11-27 12:40 JST (03:40 UTC)" in message.get_content()


def test_email_with_a_wrong_password_is_refused(mail_server: MailServer, tls: Tls) -> None:
    settings = SmtpSettings(
        "127.0.0.1",
        "k@example.org",
        ("ops@example.org",),
        port=mail_server.port,
        username=USER,
        password="wrong",
        ca_file=tls.ca_file,
    )
    channel = SmtpChannel("mail", settings)
    with pytest.raises(ChannelError, match="535"):
        channel.send([FIRING])
    assert mail_server.mailbox.messages == []


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_email_never_falls_back_to_plain_text(mail_server: MailServer, tls: Tls) -> None:
    with pytest.raises(ChannelError, match="does not offer STARTTLS"):
        smtp(mail_server, tls, "starttls").send([FIRING])
    assert mail_server.mailbox.messages == []


def test_email_to_a_certificate_it_does_not_trust_is_refused(
    mail_server: MailServer, tls: Tls
) -> None:
    settings = SmtpSettings(
        "127.0.0.1",
        "k@example.org",
        ("ops@example.org",),
        port=mail_server.port,
        username=USER,
        password=PASSWORD,
    )  # no ca_file: the system's CAs, which do not include the test CA
    with pytest.raises(ChannelError, match="CERTIFICATE_VERIFY_FAILED"):
        SmtpChannel("mail", settings).send([FIRING])


def test_email_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ConfigError, match="password in clear"):
        SmtpChannel(
            "mail", SmtpSettings("h", "a@b", ("c@d",), security="none", username="u", password="p")
        )
    with pytest.raises(ConfigError, match="'ssl' is not one of starttls, tls, none"):
        SmtpChannel("mail", SmtpSettings("h", "a@b", ("c@d",), security="ssl"))
    with pytest.raises(ConfigError, match="at least one recipient"):
        SmtpChannel("mail", SmtpSettings("h", "a@b", ()))


def test_slack_gets_a_block_kit_message(http_sink: HttpSink) -> None:
    channel = SlackChannel("slack", HttpSettings(http_sink.url("/services/T/B/X"), allow_http=True))
    channel.send([FIRING])
    [message] = http_sink.bodies("/services/T/B/X")
    assert message == slack_message([FIRING])
    header, section, context = message["blocks"]
    assert message["text"] == "[kenshin CRITICAL] Ingest stalled: 3 messages waiting"
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "[kenshin CRITICAL] Ingest stalled: 3 messages waiting",
        },
    }
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith(
        ":red_circle: *[kenshin CRITICAL] Ingest stalled: 3 messages waiting*\n"
        "3 received messages are waiting &amp; &lt;nothing&gt; was committed."
    )
    assert context["elements"][0] == {
        "type": "plain_text",  # a key may hold what a client typed: never read as mrkdwn
        "text": "critical · ingest_stalled · customer C1",
    }


def test_slack_digest_stays_within_slack_limits() -> None:
    notes = [FIRING] * 60
    message = slack_message(notes)
    assert len(message["blocks"]) <= 50
    assert message["blocks"][-1]["text"]["text"].startswith("*39 more:*\n• [kenshin CRITICAL]")


def test_webhook_gets_every_field(http_sink: HttpSink) -> None:
    channel = WebhookChannel("hook", HttpSettings(http_sink.url("/hook"), allow_http=True))
    channel.send([FIRING, RESOLVED])
    [document] = http_sink.bodies("/hook")
    assert document["source"] == "kenshin"
    first, second = document["notifications"]
    assert first == {
        "event": "firing",
        "key": "ingest_stalled",
        "severity": "critical",
        "title": "Ingest stalled: 3 messages waiting",
        "text": ALERT.text,
        "customer": "C1",
        "since": "2026-11-27T03:40:00Z",
        "at": "2026-11-27T04:00:00Z",
        "subject": "[kenshin CRITICAL] Ingest stalled: 3 messages waiting",
        "body": body(FIRING),
    }
    assert (second["event"], second["at"]) == ("resolved", "2026-11-27T04:10:00Z")


def test_a_refusing_or_absent_server_raises_channel_error(http_sink: HttpSink) -> None:
    http_sink.status = 503
    channel = WebhookChannel("hook", HttpSettings(http_sink.url("/hook"), allow_http=True))
    with pytest.raises(ChannelError, match="answered 503 Service Unavailable: no_service"):
        channel.send([FIRING])
    gone = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(ChannelError, match="Connection refused"):
        WebhookChannel("hook", HttpSettings(gone, allow_http=True, timeout_s=2)).send([FIRING])


@pytest.mark.integration
def test_a_server_that_does_not_answer_http_raises_channel_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"NOT HTTP\r\n\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        hook = WebhookChannel("hook", HttpSettings(f"http://127.0.0.1:{port}/", allow_http=True))
        with pytest.raises(ChannelError, match="BadStatusLine"):
            hook.send([FIRING])
        thread.join()


def test_plain_http_only_when_asked_for() -> None:
    with pytest.raises(
        ConfigError, match=r"not an https:// URL \(plain http:// only with allow_http"
    ):
        SlackChannel("slack", HttpSettings("http://127.0.0.1/x"))
    with pytest.raises(ConfigError, match="'ftp://x/y' is not an https:// URL"):
        WebhookChannel("hook", HttpSettings("ftp://x/y", allow_http=True))


def test_each_channel_type_is_built_from_its_config_with_secrets_from_files(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    (tmp_path / "slack-url").write_text(http_sink.url("/slack") + "\n")
    (tmp_path / "smtp-password").write_text("s3cret\n")
    configs = TypeAdapter(dict[str, ChannelConfig]).validate_python(
        {
            "mail": {
                "type": "email",
                "host": "smtp.example.org",
                "sender": "k@example.org",
                "recipients": ["ops@example.org"],
                "username": "k",
                "password_file": "smtp-password",
            },
            "chat": {"type": "slack", "url_file": "slack-url", "allow_http": True},
            "hook": {"type": "webhook", "url": http_sink.url("/hook"), "allow_http": True},
            "ses": {
                "type": "ses",
                "sender": "k@example.org",
                "to": ["ops@example.org"],
                "region": "ap-northeast-1",
            },
        }
    )
    assert {c.type for c in configs.values()} == set(CHANNEL_TYPES) == set(BUILDERS)
    built = {name: build_channel(name, c, tmp_path, "site-a") for name, c in configs.items()}
    mail = built["mail"]
    assert isinstance(mail, SmtpChannel)
    assert (mail.name, mail.settings.password) == ("mail", "s3cret")
    built["chat"].send([FIRING])
    assert http_sink.bodies("/slack") == [slack_message([FIRING], "site-a")]
    assert isinstance(built["hook"], WebhookChannel)
    ses = built["ses"]  # mails through SES: tests/aws_lambda/test_ses_channel.py
    assert isinstance(ses, SesChannel)
    assert (ses.settings.sender, ses.settings.recipients) == ("k@example.org", ("ops@example.org",))


def test_a_secret_file_that_is_empty_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "slack-url").write_text("\n")
    config = TypeAdapter(ChannelConfig).validate_python({"type": "slack", "url_file": "slack-url"})
    with pytest.raises(ConfigError, match=r"url_file: .*slack-url is empty"):
        build_channel("chat", config, tmp_path, "kenshin")
