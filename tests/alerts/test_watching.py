"""The server's watching side: the daily report sent once at its time and not again
after a restart, ingest stalls and stopped components seen, JSON log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from conftest import kenshin, make_site
from kenshin.adapters.channels.email import SmtpChannel, SmtpSettings
from kenshin.adapters.channels.web import HttpSettings
from kenshin.adapters.channels.webhook import WebhookChannel
from kenshin.adapters.pki import LocalCertificateAuthority
from kenshin.bootstrap import App, open_app
from kenshin.config_alerts import AlertsConfig, RouteConfig
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.domain.slots import zone
from kenshin.entrypoints import logs
from kenshin.entrypoints.watching import DailyReport, ServerWatch
from kenshin.errors import StoreError
from kenshin.ports import ChannelError
from kenshin.services.alerting import Alerting
from kenshin.services.batching import CommitQueue
from kenshin.services.export import days_to_export
from kenshin.services.ingest import Incoming
from kenshin.services.report import ReportSettings
from kenshin.services.schedule import ExportRun, export_due
from kenshin.services.security import SecurityLog
from kenshin.watch_setup import last_report_day, unit_status

from .conftest import HttpSink, MailServer

TOKYO = zone("Asia/Tokyo")


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=TOKYO).timestamp())


def mail_channel(server: MailServer) -> SmtpChannel:
    """An email channel to the test's SMTP server, in plain text on this machine."""
    settings = SmtpSettings(
        "127.0.0.1", "kenshin@example.org", ("ops@example.org",), server.port, security="none"
    )
    return SmtpChannel("mail", settings)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    site = make_site(tmp_path, "site")
    opened = open_app(site / "kenshin.toml")
    yield opened
    opened.close()


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_the_report_goes_once_at_its_time_and_not_again_after_a_restart(
    app: App, mail_server: MailServer
) -> None:
    channel = mail_channel(mail_server)
    settings = ReportSettings(recipients=("ops@example.org",), sender="kenshin@example.org")
    daily = DailyReport(app, settings, channel.deliver)
    daily.tick(at("2026-11-27T07:59:00"))
    assert mail_server.messages == []
    daily.tick(at("2026-11-27T08:00:00"))
    daily.tick(at("2026-11-27T08:01:00"))
    assert len(mail_server.messages) == 1
    assert "2026-11-26" in mail_server.messages[0]["Subject"]
    assert str(last_report_day(app.data_dir)) == "2026-11-26"
    again = DailyReport(app, settings, channel.deliver)  # the server restarted
    again.tick(at("2026-11-27T09:00:00"))
    assert len(mail_server.messages) == 1
    again.tick(at("2026-11-28T08:00:00"))
    assert len(mail_server.messages) == 2


def test_messages_waiting_without_a_commit_are_seen_as_an_ingest_stall(app: App) -> None:
    async def main() -> None:
        commits = CommitQueue(app.ingest(), max_messages=10, window_s=0.05)
        stopped: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(0))
        await stopped
        watch = ServerWatch(
            app, Alerting(app.store, [], AlertsConfig()), commits, {"schedule": stopped}
        )
        first = watch.observe(1000)
        assert (first.waiting_messages, first.waiting_since, first.last_commit_at) == (
            0,
            None,
            1000,
        )
        commits.offer(Incoming("t:1", b"{}", 1000), lambda _: None)
        later = watch.observe(1060)
        assert (later.waiting_messages, later.waiting_since) == (1, 1060)
        assert watch.observe(1700).waiting_since == 1060  # still waiting, nothing committed
        [down] = watch.observe(1700).down
        assert (down.name, down.since, down.detail) == ("schedule", 1000, "it stopped")

    asyncio.run(main())


def test_a_unit_status_gives_firmware_and_signal_and_nothing_else_breaks_it() -> None:
    assert unit_status(b'{"firmware": "1.4.2", "rsrp": -112, "uptime": 9}') == ("1.4.2", -112.0)
    assert unit_status(b'{"firmware": 3, "rsrp": true}') == (None, None)
    assert unit_status(b"not json") == (None, None)
    assert unit_status(b"[1]") == (None, None)


def test_logs_are_json_lines_with_a_security_event_in_fields_of_its_own() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure(logging.INFO, stream)
        SecurityLog().record(
            SecurityEventKind.LOGIN_FAILED, "C1", "192.0.2.1", "sftp: wrong password"
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "kenshin.services.security"
    assert entry["message"] == (
        "security event login_failed: C1 from 192.0.2.1: sftp: wrong password"
    )
    assert (entry["event"], entry["who"], entry["address"], entry["detail"]) == (
        "login_failed",
        "C1",
        "192.0.2.1",
        "sftp: wrong password",
    )
    assert entry["time"].endswith("+00:00")


def test_a_part_that_stopped_is_down_from_when_it_was_first_seen_until_it_runs(
    app: App,
) -> None:
    async def main() -> None:
        commits = CommitQueue(app.ingest(), max_messages=10, window_s=0.05)
        running: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(60))
        parts: list[tuple[str, str]] = [("ftps", "the FTPS server stopped serving")]
        alerting = Alerting(app.store, [], AlertsConfig())
        watch = ServerWatch(app, alerting, commits, {"ingest": running}, lambda: parts)
        assert [(d.name, d.since, d.detail) for d in watch.observe(100).down] == [
            ("ftps", 100, "the FTPS server stopped serving")
        ]
        assert watch.observe(160).down[0].since == 100
        parts.clear()
        assert watch.observe(220).down == ()
        parts.append(("ftps", "again"))
        assert watch.observe(280).down[0].since == 280
        running.cancel()

    asyncio.run(main())


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_the_report_goes_once_though_the_data_folder_cannot_record_it(
    app: App, mail_server: MailServer
) -> None:
    channel = mail_channel(mail_server)
    (app.data_dir / "report-last-sent.part").mkdir()  # where the record is written first
    settings = ReportSettings(recipients=("ops@example.org",), sender="kenshin@example.org")
    daily = DailyReport(app, settings, channel.deliver)
    for minute in range(5):
        daily.tick(at("2026-11-27T08:00:00") + 60 * minute)
    assert len(mail_server.messages) == 1


def test_a_failed_send_is_tried_again_after_a_while_not_every_minute(app: App) -> None:
    tries: list[int] = []

    def send(message: object) -> None:
        tries.append(1)
        raise ChannelError("SMTP 127.0.0.1:25: connection refused")

    settings = ReportSettings(recipients=("ops@example.org",), sender="kenshin@example.org")
    daily = DailyReport(app, settings, send)
    start = at("2026-11-27T08:00:00")
    for minute in range(15):
        with pytest.raises(ChannelError) if minute in (0, 10) else nullcontext():
            daily.tick(start + 60 * minute)
    assert len(tries) == 2  # at 08:00 and at 08:10


def test_an_export_run_that_fails_whole_is_a_component_down_until_one_completes(
    app: App,
) -> None:
    async def main() -> None:
        commits = CommitQueue(app.ingest(), max_messages=10, window_s=0.05)
        running: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(60))
        alerting = Alerting(app.store, [], AlertsConfig())
        watch = ServerWatch(app, alerting, commits, {"ingest": running})
        watch.export_failed(StoreError("SQLite store: listing days to pack failed: disk I/O"))
        [down] = watch.observe(100).down
        assert (down.name, down.since) == ("export", 100)
        assert "disk I/O" in down.detail
        watch.exported(ExportRun(), 160)
        assert watch.observe(160).down == ()
        running.cancel()

    asyncio.run(main())


def test_an_export_failure_is_an_alert_until_an_export_by_hand_succeeds(app: App) -> None:
    async def main() -> None:
        commits = CommitQueue(app.ingest(), max_messages=10, window_s=0.05)
        running: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(60))
        watch = ServerWatch(app, Alerting(app.store, [], AlertsConfig()), commits, {})
        folder = app.outbox_dir / "C-001"
        folder.parent.mkdir(exist_ok=True)
        folder.write_text("a file where the customer's folder goes")
        now = int(time.time())
        watch.exported(export_due(app.store, app.outbox, app.export_settings, now=now), now)
        [failure] = watch.observe(now).export_failures
        assert (failure.customer, failure.since) == ("C-001", now)
        folder.unlink()
        assert kenshin(app.data_dir, "export", "--customer", "C-001").exit_code == 0
        assert watch.observe(now + 60).export_failures == ()
        running.cancel()

    asyncio.run(main())


def test_an_export_by_hand_of_another_day_leaves_the_failure_standing(app: App) -> None:
    folder = app.outbox_dir / "C-001"
    folder.parent.mkdir(exist_ok=True)
    folder.write_text("a file where the customer's folder goes")
    now = int(time.time())
    export_due(app.store, app.outbox, app.export_settings, now=now)
    [failure] = app.store.alerts.export_failures()
    failed = date.fromisoformat(failure.day)
    [customer] = app.store.registry.list_customers()
    assert failed == min(days_to_export(app.store, customer, now=now))  # the first that failed
    folder.unlink()
    other = (failed - timedelta(days=5)).isoformat()
    assert kenshin(app.data_dir, "export", "--customer", "C-001", "--date", other).exit_code == 0
    assert app.store.alerts.export_failures() == [failure]  # the failed day is still not out
    on_failed_day = ("export", "--customer", "C-001", "--date", failure.day)
    assert kenshin(app.data_dir, *on_failed_day).exit_code == 0
    assert app.store.alerts.export_failures() == []


def test_certificates_of_units_and_of_the_endpoint_ending_soon_reach_the_webhook(
    app: App, http_sink: HttpSink
) -> None:
    site, certs = app.data_dir, str(app.data_dir / "certs")
    short = ("devices", "add", "U-1", "--customer", "C-001", "--out", certs, "--valid-days", "10")
    assert kenshin(site, *short).exit_code == 0
    assert (
        kenshin(site, "devices", "add", "U-2", "--customer", "C-001", "--out", certs).exit_code == 0
    )
    retired = ("devices", "add", "U-3", "--customer", "C-001", "--out", certs, "--force")
    assert kenshin(site, *retired, "--valid-days", "5").exit_code == 0
    assert kenshin(site, "devices", "revoke", "U-3").exit_code == 0  # retired: no alert
    LocalCertificateAuthority.load(site / "pki").issue_server(["mqtt.example.org"], valid_days=20)
    hook = WebhookChannel("hook", HttpSettings(http_sink.url("/hook"), allow_http=True))
    watch = ServerWatch(
        app,
        Alerting(app.store, [hook], AlertsConfig(routes=(RouteConfig(channel="hook"),))),
        CommitQueue(app.ingest(), max_messages=10, window_s=0.05),
        {},
    )
    watch.tick(int(time.time()))
    found = {n["key"]: n for b in http_sink.bodies("/hook") for n in b["notifications"]}
    assert sorted(found) == ["certificate:MQTT endpoint", "certificates:C-001"]
    assert found["certificate:MQTT endpoint"]["severity"] == "warning"
    assert (
        "1 unit(s) of customer C-001 end within 30 days: U-1 ("
        in found["certificates:C-001"]["text"]
    )
