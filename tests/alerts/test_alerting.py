"""Alerting end to end: rules, state and queue in a real store, notifications to a real
SMTP server (aiosmtpd) and a local HTTP server standing in for Slack and the webhook."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from kenshin.adapters.channels.email import SmtpChannel, SmtpSettings
from kenshin.adapters.channels.slack import SlackChannel
from kenshin.adapters.channels.web import HttpSettings
from kenshin.adapters.channels.webhook import WebhookChannel
from kenshin.adapters.sqlite import SqliteStore
from kenshin.config_alerts import AlertsConfig, RouteConfig
from kenshin.domain.accounts import Account, Receipt
from kenshin.domain.alerts import Severity
from kenshin.domain.model import Customer, DeadLetter, Device, FileRevision, SecurityEvent
from kenshin.domain.observations import ComponentDown, DiskSpace, Observations
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.errors import StoreError
from kenshin.ports import AlertChannel, Store
from kenshin.services.alerting import Alerting, SecurityEventBuffer
from kenshin.services.export import FINAL
from kenshin.services.security import SecurityLog

from .conftest import HttpSink, Mailbox, MailServer, Tls, free_port

NOW = 1_795_752_000
REPEAT_MINUTES = 60
DOWN = ComponentDown("device endpoint", NOW - 120, "TLS files missing")
LOW = DiskSpace("/data", 1 << 20, 100 << 30)


@pytest.fixture
def site(store: Store) -> Store:
    """The store with customers C1 (Tokyo) and C2 (UTC), and device U-1 of C1."""
    store.registry.add_customer(Customer("C1", "First", "Asia/Tokyo"))
    store.registry.add_customer(Customer("C2", "Second", "UTC"))
    store.registry.add_device(Device("U-1", "C1"))
    return store


def channels(mail_port: int, tls: Tls, sink: HttpSink) -> list[AlertChannel]:
    mail = SmtpSettings(
        "127.0.0.1",
        "kenshin@example.org",
        ("ops@example.org",),
        port=mail_port,
        security="none",
        timeout_s=5,
    )
    return [
        SmtpChannel("mail", mail),
        SlackChannel("slack", HttpSettings(sink.url("/slack"), allow_http=True)),
        WebhookChannel("hook", HttpSettings(sink.url("/hook"), allow_http=True)),
    ]


ROUTES = (
    RouteConfig(channel="mail", min_severity=Severity.CRITICAL),
    RouteConfig(channel="slack"),
    RouteConfig(channel="hook", customers=("C1",)),
)


def alerting(store: Store, chans: list[AlertChannel]) -> Alerting:
    settings = AlertsConfig(
        repeat_minutes=REPEAT_MINUTES,
        routes=ROUTES,
        retry_first_seconds=30,
        channel_down_minutes=600,  # a failing channel's own alert: tested on its own
    )
    return Alerting(store, chans, settings)


def hook_events(sink: HttpSink) -> list[tuple[str, str]]:
    return [(n["event"], n["key"]) for b in sink.bodies("/hook") for n in b["notifications"]]


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_an_alert_fires_once_repeats_at_its_interval_and_resolves_once(
    site: Store, mail_server: MailServer, tls: Tls, http_sink: HttpSink
) -> None:
    watch = alerting(site, channels(mail_server.port, tls, http_sink))
    for minute in range(0, 2 * REPEAT_MINUTES + 1, 10):  # down for two hours
        watch.tick(Observations(NOW + minute * 60, down=[DOWN]))
    watch.tick(Observations(NOW + 125 * 60))  # running again
    watch.tick(Observations(NOW + 130 * 60))
    assert [m["Subject"] for m in mail_server.messages] == [
        "[kenshin CRITICAL] Not running: device endpoint",
        "[kenshin CRITICAL] still: Not running: device endpoint",
        "[kenshin CRITICAL] still: Not running: device endpoint",
        "[kenshin RESOLVED] Not running: device endpoint",
    ]
    resolved = mail_server.messages[-1].get_content()
    assert resolved.startswith(
        "Resolved at 2026-11-27 15:05 JST (06:05 UTC), after 2 h 7 min. It was:\r\n\r\n"
        "The device endpoint is not running: TLS files missing."
    )
    assert [b["text"] for b in http_sink.bodies("/slack")] == [
        m["Subject"] for m in mail_server.messages
    ]
    assert hook_events(http_sink) == []  # the webhook takes C1's alerts only
    assert site.alerts.queued() == []
    assert site.alerts.alert_states() == {}


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_routes_pick_channels_by_severity_and_customer(
    site: Store, mail_server: MailServer, tls: Tls, http_sink: HttpSink
) -> None:
    watch = alerting(site, channels(mail_server.port, tls, http_sink))
    log = SecurityLog(watch.security, clock=lambda: NOW - 30)
    log.record(SecurityEventKind.TOPIC_REFUSED, "U-1", "203.0.113.9:5000", "publish to 'x/y'")
    log.record(SecurityEventKind.LOGIN_FAILED, "C2", "192.0.2.1", "sftp: wrong password")
    watch.tick(Observations(NOW, disks=[LOW]))
    assert [m["Subject"] for m in mail_server.messages] == [
        "[kenshin CRITICAL] Disk space low: /data"
    ]
    assert hook_events(http_sink) == [("firing", "security:topic_refused:U-1")]
    assert len(http_sink.bodies("/slack")) == 3


def test_a_channel_down_for_a_while_gets_every_alert_afterwards(
    site: Store, tls: Tls, http_sink: HttpSink
) -> None:
    port = free_port()  # no mail server there yet
    watch = alerting(site, channels(port, tls, http_sink))
    http_sink.status = 503  # Slack and the webhook answer 503
    clock = [NOW]
    log = SecurityLog(watch.security, clock=lambda: clock[0])
    watch.tick(Observations(NOW, down=[DOWN]))
    log.record(SecurityEventKind.PAYLOAD_NAMES_ANOTHER_DEVICE, "U-1", "203.0.113.9:1", "names U-2")
    clock[0] = NOW + 60
    log.record(SecurityEventKind.PAYLOAD_NAMES_ANOTHER_DEVICE, "U-1", "203.0.113.9:1", "names U-3")
    watch.tick(Observations(NOW + 120, down=[DOWN], disks=[LOW]))
    watch.tick(Observations(NOW + 7200))  # all resolved, the security events out of the window
    assert http_sink.posts == []
    queued = site.alerts.queued()
    assert len(queued) == 6 + 6 + 2  # mail and Slack get all six, the webhook C1's two
    first = {q.channel: (q.attempts, q.last_error) for q in reversed(queued)}  # oldest wins
    assert first == {
        "mail": (3, f"SMTP 127.0.0.1:{port}: [Errno 111] Connection refused"),
        "slack": (3, f"127.0.0.1:{http_sink.port} answered 503 Service Unavailable: no_service"),
        "hook": (2, f"127.0.0.1:{http_sink.port} answered 503 Service Unavailable: no_service"),
    }

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        http_sink.status = 200
        assert watch.sender.deliver(NOW + 7200 + 3600) == 14
    finally:
        controller.stop()
    security_title = (
        "Security: payloads naming another device than the unit that sent them;"
        " device U-1 of customer C1 from 203.0.113.9"
    )
    expected = [
        "[kenshin CRITICAL] Not running: device endpoint",
        "[kenshin CRITICAL] Disk space low: /data",
        f"[kenshin CRITICAL] {security_title}",
        "[kenshin RESOLVED] Disk space low: /data",
        "[kenshin RESOLVED] Not running: device endpoint",
        f"[kenshin RESOLVED] {security_title}",
    ]
    assert [m["Subject"] for _, m in mailbox.messages] == expected
    assert [b["text"] for b in http_sink.bodies("/slack")] == expected
    assert hook_events(http_sink) == [
        ("firing", "security:payload_names_another_device:U-1"),
        ("resolved", "security:payload_names_another_device:U-1"),
    ]
    assert (
        "[payload_names_another_device] device U-1 of customer C1"
        in http_sink.bodies("/hook")[0]["notifications"][0]["text"]
    )
    assert site.alerts.queued() == []


def test_over_the_rate_limit_alerts_come_as_one_digest_and_none_is_lost(
    site: Store, tls: Tls, http_sink: HttpSink
) -> None:
    slack = SlackChannel("slack", HttpSettings(http_sink.url("/slack"), allow_http=True))
    watch = Alerting(
        site, [slack], AlertsConfig(routes=(RouteConfig(channel="slack"),), rate_limit_messages=3)
    )
    disks = [DiskSpace(f"/data{i}", 0, 100) for i in range(8)]
    watch.tick(Observations(NOW, disks=disks))
    texts = [b["text"] for b in http_sink.bodies("/slack")]
    assert texts == [
        "[kenshin CRITICAL] Disk space low: /data0",
        "[kenshin CRITICAL] Disk space low: /data1",
        "[kenshin] 6 alert notifications (6 active, 0 resolved)",
    ]
    digest = http_sink.bodies("/slack")[2]
    assert [
        b["text"]["text"].split("*")[1] for b in digest["blocks"] if b["type"] == "section"
    ] == [f"[kenshin CRITICAL] Disk space low: /data{i}" for i in range(2, 8)]
    watch.tick(Observations(NOW + 60))  # all resolved: the limit is used up, they wait
    assert len(http_sink.bodies("/slack")) == 3
    assert len(site.alerts.queued("slack")) == 8
    watch.sender.deliver(NOW + 601)
    assert [b["text"] for b in http_sink.bodies("/slack")][3:] == [
        "[kenshin RESOLVED] Disk space low: /data0",
        "[kenshin RESOLVED] Disk space low: /data1",
        "[kenshin] 6 alert notifications (0 active, 6 resolved)",
    ]


def test_every_security_event_kind_reaches_the_webhook(site: Store, http_sink: HttpSink) -> None:
    hook = WebhookChannel("hook", HttpSettings(http_sink.url("/hook"), allow_http=True))
    watch = Alerting(
        site, [hook], AlertsConfig(routes=(RouteConfig(channel="hook"),), rate_limit_messages=100)
    )
    log = SecurityLog(watch.security, clock=lambda: NOW - 5)
    kinds = sorted(SecurityEventKind)
    for kind in kinds:
        log.record(kind, "U-1", "203.0.113.9:4242", f"a {kind}")
    assert site.alerts.security_events(0) == []  # held until the next evaluation
    watch.tick(Observations(NOW))
    assert len(site.alerts.security_events(0)) == len(kinds)
    found = {n["key"]: n for b in http_sink.bodies("/hook") for n in b["notifications"]}
    assert sorted(found) == [f"security:{kind}:U-1" for kind in kinds]
    for kind in kinds:
        note = found[f"security:{kind}:U-1"]
        assert note["customer"] == "C1"
        assert f"[{kind}] device U-1 of customer C1 from 203.0.113.9" in note["text"]
        detail = "console: a wrong name, password or code" if kind == "console_login_failed" else ""
        assert note["text"].split("\n")[0].endswith(f"(03:59 UTC): {detail or f'a {kind}'}.")
        assert "What to do: " in note["text"]


def test_dead_letters_above_the_rate_fire_and_clear_as_the_window_moves(site: Store) -> None:
    watch = Alerting(site, [], AlertsConfig())
    watch.tick(Observations(NOW))
    site.dead_letters.add_dead_letters(
        [DeadLetter("mqtt", f"bad {i}", b"x", NOW) for i in range(11)]
    )
    plan = watch.tick(Observations(NOW + 60))
    assert [n.alert.key for n in plan.notifications] == ["dead_letters"]
    assert plan.notifications[0].alert.title == "Dead letters: 11 in 60 min"
    plan = watch.tick(Observations(NOW + 3700))
    assert [(n.event, n.alert.key) for n in plan.notifications] == [("resolved", "dead_letters")]


def test_dead_letters_of_the_window_survive_a_restart(site: Store) -> None:
    Alerting(site, [], AlertsConfig()).tick(Observations(NOW))
    site.dead_letters.add_dead_letters(
        [DeadLetter("mqtt", f"bad {i}", b"x", NOW) for i in range(11)]
    )
    before = Alerting(site, [], AlertsConfig()).tick(Observations(NOW + 60))
    assert [n.alert.key for n in before.notifications] == ["dead_letters"]
    restarted = Alerting(site, [], AlertsConfig())  # a new process: the store remembers
    assert restarted.tick(Observations(NOW + 120)).notifications == []


def test_a_failing_channel_is_reported_on_the_others_and_clears(
    site: Store, tls: Tls, http_sink: HttpSink
) -> None:
    port = free_port()
    settings = SmtpSettings("127.0.0.1", "k@x.org", ("o@x.org",), port=port, security="none")
    mail = SmtpChannel("mail", settings)
    slack = SlackChannel("slack", HttpSettings(http_sink.url("/slack"), allow_http=True))
    routes = (RouteConfig(channel="mail"), RouteConfig(channel="slack"))
    watch = Alerting(site, [mail, slack], AlertsConfig(routes=routes, channel_down_minutes=5))
    watch.tick(Observations(NOW, disks=[LOW]))
    watch.tick(Observations(NOW + 240, disks=[LOW]))
    assert [b["text"] for b in http_sink.bodies("/slack")] == [
        "[kenshin CRITICAL] Disk space low: /data"
    ]
    watch.tick(Observations(NOW + 300, disks=[LOW]))  # failing for 5 minutes now
    [_, report] = http_sink.bodies("/slack")
    assert report["text"] == "[kenshin WARNING] Alert channel failing: mail"
    assert report["blocks"][1]["text"]["text"].split("\n")[1] == (
        f"The alert channel mail cannot deliver: SMTP 127.0.0.1:{port}: [Errno 111] Connection"
        " refused. 1 notification waits for it; they are sent, in order, when it works again."
    )
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        watch.tick(Observations(NOW + 400, disks=[LOW]))  # waits: next try at NOW + 420
        assert mailbox.messages == []
        watch.tick(Observations(NOW + 420, disks=[LOW]))
        watch.tick(Observations(NOW + 480, disks=[LOW]))
    finally:
        controller.stop()
    assert [m["Subject"] for _, m in mailbox.messages] == [
        "[kenshin CRITICAL] Disk space low: /data",
        "[kenshin WARNING] Alert channel failing: mail",
        "[kenshin RESOLVED] Alert channel failing: mail",
    ]
    assert (
        http_sink.bodies("/slack")[-1]["text"] == "[kenshin RESOLVED] Alert channel failing: mail"
    )


def test_final_files_not_collected_by_their_deadline_alert_their_customer(
    site: Store, http_sink: HttpSink
) -> None:
    site.deliveries.save_account(Account("C2", password_hash="x"))
    revision = FileRevision(
        "C2", "2026-11-25", 1, FINAL, "C2_20261125.csv", "0" * 64, "k", 1, 48, 48, NOW - 100_800
    )  # made at the day's end (2026-11-26 00:00 UTC): due collect_by_hours after it
    site.revisions.add_revision(revision)
    hook = WebhookChannel("hook", HttpSettings(http_sink.url("/hook"), allow_http=True))
    watch = Alerting(
        site,
        [hook],
        AlertsConfig(routes=(RouteConfig(channel="hook", customers=("C2",)),)),
        collect_by_hours=3,
    )
    watch.tick(Observations(NOW))  # due 2026-11-26 03:00 UTC
    [note] = http_sink.bodies("/hook")[0]["notifications"]
    assert (note["key"], note["customer"], note["since"]) == (
        "uncollected:C2:C2_20261125.csv",
        "C2",
        "2026-11-26T03:00:00Z",
    )
    assert note["text"].startswith(
        "Customer C2 has not collected its final file C2_20261125.csv (day 2026-11-25,"
        " revision 1), due by 2026-11-26 03:00 UTC."
    )
    site.deliveries.add_receipt(
        Receipt("C2", "C2_20261125.csv", 1, 100, "sftp", "192.0.2.1", NOW + 30)
    )
    watch.tick(Observations(NOW + 60))  # collected late: no longer waiting to be collected
    assert hook_events(http_sink)[-1] == ("resolved", "uncollected:C2:C2_20261125.csv")


def test_security_events_are_held_while_the_store_fails(tmp_path: Path) -> None:
    buffer = SecurityEventBuffer()
    log = SecurityLog(buffer, clock=lambda: NOW)
    log.record(SecurityEventKind.LOGIN_LOCKED, "C1", "192.0.2.1", "five failures")
    broken = SqliteStore(tmp_path / "kenshin.db")
    broken.close()
    with pytest.raises(StoreError, match="keeping security events failed"):
        buffer.flush(broken.alerts)
    store = SqliteStore(tmp_path / "kenshin.db")
    try:
        assert buffer.flush(store.alerts) == 1
        assert store.alerts.security_events(0) == [
            SecurityEvent(SecurityEventKind.LOGIN_LOCKED, NOW, "192.0.2.1", "C1", "five failures")
        ]
    finally:
        store.close()


def test_a_unit_whose_certificates_are_all_revoked_is_not_silent(site: Store) -> None:
    site.certificates.add_certificate("U-1", 7, NOW + 86_400 * 365, NOW - 86_400)
    watch = Alerting(site, [], AlertsConfig())
    fired = watch.tick(Observations(NOW), {"U-1": NOW - 7 * 3600})
    assert [n.alert.key for n in fired.notifications] == ["silent:C1"]
    site.certificates.revoke_device("U-1", NOW)  # taken out of service
    later = watch.tick(Observations(NOW + 60), {"U-1": NOW - 7 * 3600})
    assert [(n.event, n.alert.key) for n in later.notifications] == [("resolved", "silent:C1")]


@pytest.mark.parametrize("mail_server", ["plain"], indirect=True)
def test_the_disk_alert_goes_out_when_the_database_cannot_be_written(
    tmp_path: Path, mail_server: MailServer, tls: Tls, http_sink: HttpSink
) -> None:
    store = SqliteStore(tmp_path / "kenshin.db")
    try:
        watch = alerting(store, channels(mail_server.port, tls, http_sink))
        log = SecurityLog(watch.security, clock=lambda: NOW - 30)
        log.record(SecurityEventKind.LOGIN_FAILED, "C2", "192.0.2.1", "sftp: wrong password")
        store._db.execute("PRAGMA query_only = ON")  # as when the disk is full
        for minute in range(5):
            watch.tick(Observations(NOW + minute * 60, disks=[LOW]))
        subject = "[kenshin CRITICAL] Disk space low: /data"
        assert [m["Subject"] for m in mail_server.messages] == [subject]  # once, not each round
        assert len(http_sink.bodies("/slack")) == 1  # the login waits in memory
        store._db.execute("PRAGMA query_only = OFF")  # room again
        watch.tick(Observations(NOW + 300, disks=[LOW]))
        assert [m["Subject"] for m in mail_server.messages] == [subject]  # known: not again
        assert set(store.alerts.alert_states()) == {"disk:/data", "security:login_failed:192.0.2.1"}
        watch.tick(Observations(NOW + 360))
        assert [m["Subject"] for m in mail_server.messages][1:] == [
            "[kenshin RESOLVED] Disk space low: /data"
        ]
    finally:
        store.close()
