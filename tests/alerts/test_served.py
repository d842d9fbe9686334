"""Alerting and the report wired into the commands: ``kenshin serve`` sends a security
alert to a webhook and says when it clears; ``kenshin report --send`` mails the report
through the configured email channel; wrong channel settings stop start-up, naming
the key."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from conftest import kenshin, make_site, serve_process, wait_for

from .conftest import HttpSink, MailServer

pytestmark = pytest.mark.integration

HOOK = "/hook"


def configure(site: Path, text: str) -> None:
    """Append TOML to the site's config."""
    config = site / "kenshin.toml"
    config.write_text(config.read_text() + "\n" + text)


def webhook(sink: HttpSink) -> str:
    return (
        f'[alerts.channels.hook]\ntype = "webhook"\nurl = "{sink.url(HOOK)}"\nallow_http = true\n'
        '[[alerts.routes]]\nchannel = "hook"\n'
    )


def test_serve_sends_a_security_alert_to_the_webhook(tmp_path: Path, http_sink: HttpSink) -> None:
    site = make_site(tmp_path, "site")
    configure(site, webhook(http_sink))
    env = {
        "KENSHIN_MQTT__HOST": "127.0.0.1",
        "KENSHIN_MQTT__PORT": "0",
        "KENSHIN_FTPS__ENABLED": "false",
        "KENSHIN_SFTP__ENABLED": "false",
        "KENSHIN_ALERTS__EVALUATE_SECONDS": "5",
    }
    process, ports = serve_process(site, env, 2)
    try:
        not_tls(ports["MQTT over TLS"])
        [alert] = wait_for_post(http_sink, 20)["notifications"]
        assert alert["key"] == "security:tls_not_tls:127.0.0.1"
        assert (alert["severity"], alert["event"]) == ("info", "firing")
        assert alert["text"].startswith(
            "Connections that did not speak TLS [tls_not_tls] from 127.0.0.1: 1 in the last 60 min"
        )
        # Another such connection: the next evaluation counts it in the same alert, which
        # is not sent again (a notification is queued with the state it comes from).
        not_tls(ports["MQTT over TLS"])
        wait_for("the next evaluation", lambda: "2 in the last 60 min" in state(site, alert["key"]))
        wait_for("the queue sent", lambda: queued(site) == 0)
        assert len(http_sink.bodies(HOOK)) == 1
    finally:
        process.terminate()
        process.communicate(timeout=30)


def not_tls(port: int) -> None:
    """A connection that does not speak TLS: a security event."""
    with socket.create_connection(("127.0.0.1", port)) as plain:
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
        plain.recv(100)


def state(site: Path, key: str) -> str:
    """The text of alert ``key`` as the server last saved it ("" if none)."""
    with closing(sqlite3.connect(site / "kenshin.db")) as db:
        row = db.execute("SELECT text FROM alert_states WHERE key = ?", (key,)).fetchone()
    return "" if row is None else str(row[0])


def queued(site: Path) -> int:
    """How many notifications wait in the server's queue."""
    with closing(sqlite3.connect(site / "kenshin.db")) as db:
        count: int = db.execute("SELECT count(*) FROM alert_queue").fetchone()[0]
    return count


def wait_for_post(sink: HttpSink, timeout_s: float) -> dict[str, Any]:
    wait_for("a notification", lambda: sink.bodies(HOOK), timeout_s)
    return sink.bodies(HOOK)[0]


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_report_send_mails_the_report_through_the_email_channel(
    tmp_path: Path, mail_server: MailServer
) -> None:
    site = make_site(tmp_path, "site")
    configure(
        site,
        f'[alerts.channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {mail_server.port}\n'
        'security = "none"\nsender = "kenshin@example.org"\nrecipients = ["ops@example.org"]\n',
    )
    assert kenshin(site, "report", "--date", "2026-11-26", "--send").exit_code == 1
    configure(site, "")
    text = (site / "kenshin.toml").read_text().replace('channel = ""', 'channel = "mail"')
    (site / "kenshin.toml").write_text(text)
    sent = kenshin(site, "report", "--date", "2026-11-26", "--send")
    assert sent.exit_code == 0, sent.output
    assert sent.output == "sent the report of 2026-11-26 to ops@example.org\n"
    [message] = mail_server.messages
    assert (message["From"], message["To"]) == ("kenshin@example.org", "ops@example.org")
    assert "2026-11-26" in message["Subject"]
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names == ["kenshin-quality-2026-11-26.csv"]


def test_a_report_channel_that_is_not_an_email_channel_is_refused(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    site = make_site(tmp_path, "site")
    configure(site, webhook(http_sink))
    text = (site / "kenshin.toml").read_text().replace('channel = ""', 'channel = "hook"')
    (site / "kenshin.toml").write_text(text)
    done = kenshin(site, "report", "--date", "2026-11-26")
    assert done.exit_code == 1
    assert "report.channel: 'hook' is not an email or ses channel of alerts.channels" in done.output


def test_a_route_to_an_unknown_channel_stops_start_up_naming_it(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    configure(site, '[[alerts.routes]]\nchannel = "ops"\n')
    done = kenshin(site, "customers", "list")
    assert done.exit_code == 1
    expected = "alerts.routes[1].channel: no channel 'ops'"
    assert expected in done.output


def test_a_secret_file_that_is_missing_stops_serve_naming_the_key(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    configure(site, '[alerts.channels.slack]\ntype = "slack"\nurl_file = "secrets/slack-url"\n')
    env = {"KENSHIN_MQTT__HOST": "127.0.0.1", "KENSHIN_MQTT__PORT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml"), "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "KENSHIN_HTTP__PORT": "0", **env},
    )
    assert done.returncode == 1
    assert "alerts.channels.slack: url_file: cannot read" in done.stderr
