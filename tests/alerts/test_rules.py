"""The alert rules, the notification state machine and the rate limit (domain, pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kenshin.domain.alert_rules import active_alerts
from kenshin.domain.alerts import (
    Alert,
    AlertState,
    Event,
    Severity,
    body,
    digest_subject,
    plan_notifications,
    rate_limited,
    shown_time,
    subject,
)
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import (
    CertificateExpiry,
    ComponentDown,
    DeviceSeen,
    DiskSpace,
    ExportFailure,
    Observations,
    Thresholds,
)
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.services.receipts import Uncollected

NOW = 1_795_752_000  # 2026-11-27 04:00 UTC, 13:00 in Tokyo
HOUR = 3600
LIMITS = Thresholds()


def obs(**fields: Any) -> Observations:
    return replace(Observations(NOW, customer_zones={"C1": "Asia/Tokyo", "C2": "UTC"}), **fields)


def by_key(o: Observations, limits: Thresholds = LIMITS) -> dict[str, Alert]:
    return {a.key: a for a in active_alerts(o, limits)}


def test_times_are_shown_local_then_utc() -> None:
    assert shown_time(NOW, "Asia/Tokyo") == "2026-11-27 13:00 JST (04:00 UTC)"
    assert (
        shown_time(NOW - 10 * HOUR, "Asia/Tokyo") == "2026-11-27 03:00 JST (2026-11-26 18:00 UTC)"
    )
    assert shown_time(NOW, "UTC") == "2026-11-27 04:00 UTC"


def test_nothing_wrong_nothing_fires() -> None:
    seen = [DeviceSeen("U-1", "C1", NOW - 60)]
    assert (
        active_alerts(obs(devices=seen, disks=[DiskSpace("/data", 50 << 30, 100 << 30)]), LIMITS)
        == []
    )


def test_silent_units_one_alert_per_customer_with_its_threshold() -> None:
    devices = [
        DeviceSeen("U-1", "C1", NOW - 7 * HOUR),  # over C1's 6 h
        DeviceSeen("U-2", "C1", NOW - 5 * HOUR),  # not yet
        DeviceSeen("U-3", "C1", NOW - 30 * HOUR),
        DeviceSeen("U-4", "C2", NOW - 7 * HOUR),  # C2 allows 12 h
        DeviceSeen("U-5", "C2", None),  # never reported: not silent, not installed yet
    ]
    limits = Thresholds(silent_hours_by_customer={"C2": 12})
    alerts = by_key(obs(devices=devices), limits)
    assert list(alerts) == ["silent:C1"]
    alert = alerts["silent:C1"]
    assert alert.severity == Severity.WARNING
    assert alert.customer == "C1"
    assert alert.since == NOW - 30 * HOUR
    assert alert.title == "Units silent: customer C1 (2)"
    assert alert.text.startswith(
        "2 unit(s) of customer C1 sent nothing for more than 6 h:"
        " U-3 (last 2026-11-26 07:00 JST (2026-11-25 22:00 UTC)),"
        " U-1 (last 2026-11-27 06:00 JST (2026-11-26 21:00 UTC)).\n"
    )
    assert "U-1 (last 2026-11-27 06:00 JST (2026-11-26 21:00 UTC))" in alert.text
    assert "What to do: check the units' power and mobile signal" in alert.text


def test_dead_letters_above_the_rate() -> None:
    assert by_key(obs(dead_letters=10)) == {}
    alert = by_key(obs(dead_letters=11))["dead_letters"]
    assert alert.title == "Dead letters: 11 in 60 min"
    assert "`kenshin dead-letters`" in alert.text


def test_ingest_stalled_only_when_messages_wait_past_the_stall_time() -> None:
    assert by_key(obs(waiting_messages=0, last_commit_at=NOW - 5 * HOUR)) == {}
    assert by_key(obs(waiting_messages=3, last_commit_at=NOW - 9 * 60)) == {}
    alert = by_key(
        obs(waiting_messages=3, last_commit_at=NOW - 3 * HOUR, waiting_since=NOW - 20 * 60)
    )["ingest_stalled"]
    assert alert.severity == Severity.CRITICAL
    assert alert.since == NOW - 20 * 60
    assert alert.text.startswith(
        "3 received messages are waiting and nothing was committed for 20 min"
        " (last commit: 2026-11-27 10:00 JST (01:00 UTC))."
    )


def test_export_uncollected_disk_and_components() -> None:
    late = Uncollected("C1", "2026-11-26", "C1_20261126.csv", 2, NOW - HOUR)
    found = by_key(
        obs(
            export_failures=[ExportFailure("C1", "2026-11-26", "disk full", NOW - 2 * HOUR)],
            uncollected=[late],
            disks=[DiskSpace("/data", 512 << 20, 100 << 30)],
            down=[ComponentDown("device endpoint", NOW - 300, "TLS files missing")],
        )
    )
    assert sorted(found) == [
        "disk:/data",
        "down:device endpoint",
        "export:C1",
        "uncollected:C1:C1_20261126.csv",
    ]
    assert found["export:C1"].text.startswith(
        "The daily files of customer C1 could not be written: 2026-11-26 (disk full)."
    )
    assert found["uncollected:C1:C1_20261126.csv"].text.startswith(
        "Customer C1 has not collected its final file C1_20261126.csv (day 2026-11-26,"
        " revision 2), due by 2026-11-27 12:00 JST (03:00 UTC)."
    )
    assert found["disk:/data"].text.startswith(
        "Only 0.5 GiB (0.5 %) is free on the file system of /data"
    )
    assert found["down:device endpoint"].text.startswith(
        "The device endpoint is not running: TLS files missing."
    )
    assert found["uncollected:C1:C1_20261126.csv"].zone == "Asia/Tokyo"
    assert found["down:device endpoint"].zone == "Asia/Tokyo"  # the site's zone


def test_every_security_kind_has_its_text_and_keeps_its_stored_name() -> None:
    assert len(SecurityEventKind) == 29
    for kind in SecurityEventKind:
        assert kind == kind.name.lower()  # the name stored and counted, as before the enum
        assert kind.what
        assert kind.advice.endswith(".")
        assert kind.severity in set(Severity)


@pytest.mark.parametrize("kind", list(SecurityEventKind))
def test_each_security_event_kind_produces_its_alert(kind: SecurityEventKind) -> None:
    events = [
        SecurityEvent(kind, NOW - 600, "203.0.113.9:50123", "U-1", "first"),
        SecurityEvent(kind, NOW - 60, "203.0.113.9:50124", "U-1", "second"),
    ]
    devices = [DeviceSeen("U-1", "C1", NOW)]
    [alert] = active_alerts(obs(security_events=events, devices=devices), LIMITS)
    assert alert.key == f"security:{kind}:U-1"
    assert alert.severity == kind.severity
    assert alert.customer == "C1"
    assert alert.since == NOW - 600
    detail = (
        "console: a wrong name, password or code" if kind == "console_login_failed" else "second"
    )
    assert alert.text == (
        f"{kind.what[:1].upper()}{kind.what[1:]} [{kind}] device U-1 of customer C1"
        " from 203.0.113.9: 2 in the last 60 min,"
        f" the last at 2026-11-27 12:59 JST (03:59 UTC): {detail}.\nWhat to do: {kind.advice}"
    )


def test_security_events_without_a_name_group_by_address_and_unknown_kinds_still_alert() -> None:
    events = [
        SecurityEvent("tls_not_tls", NOW - 10, "198.51.100.7:1000"),
        SecurityEvent("tls_not_tls", NOW - 9, "198.51.100.7:1001"),
        SecurityEvent("tls_not_tls", NOW - 8, "[2001:db8::1]:1002"),
        SecurityEvent("login_failed", NOW - 5, "192.0.2.1", "C2", "sftp: wrong password"),
        SecurityEvent("brand_new_kind", NOW - 5, "192.0.2.1", None, "odd"),
    ]
    found = by_key(obs(security_events=events))
    assert sorted(found) == [
        "security:brand_new_kind:192.0.2.1",
        "security:login_failed:C2",
        "security:tls_not_tls:198.51.100.7",
        "security:tls_not_tls:2001:db8::1",
    ]
    assert found["security:login_failed:C2"].customer == "C2"
    assert found["security:login_failed:C2"].title == (
        "Security: failed logins to the file servers (FTPS, SFTP); account C2 from 192.0.2.1"
    )
    assert found["security:tls_not_tls:198.51.100.7"].severity == Severity.INFO
    assert "[brand_new_kind (unknown kind)]" in found["security:brand_new_kind:192.0.2.1"].text


def test_names_a_client_made_up_make_one_alert_of_its_address() -> None:
    events = [
        SecurityEvent("login_failed", NOW - 100 + n % 90, "203.0.113.50:4000", f"user{n}", "")
        for n in range(2000)
    ]
    [alert] = active_alerts(obs(security_events=events), LIMITS)
    assert alert.key == "security:login_failed:203.0.113.50"
    assert alert.customer is None
    assert "from 203.0.113.50 (2000 names given: use…)" in alert.text
    assert ": 2000 in the last 60 min" in alert.text


def test_a_console_sign_in_alert_does_not_tell_a_wrong_code_from_a_wrong_password() -> None:
    """Whoever reads alerts (a viewer, a chat) must not learn that a password was right."""
    for why in ("wrong password", "wrong TOTP code"):
        event = SecurityEvent("console_login_failed", NOW - 10, "203.0.113.9:1", "admin", why)
        [alert] = active_alerts(obs(security_events=[event]), LIMITS)
        assert "console: a wrong name, password or code." in alert.text
        assert why not in alert.text


ALERT = Alert(
    "disk:/data", Severity.CRITICAL, "Disk space low: /data", "Only ...", None, NOW, "UTC"
)


def test_an_alert_fires_once_repeats_at_its_interval_and_resolves_once() -> None:
    repeat = 4 * HOUR
    first = plan_notifications([ALERT], {}, NOW, repeat)
    assert [(n.event, n.at) for n in first.notifications] == [(Event.FIRING, NOW)]
    states = {s.alert.key: s for s in first.states}
    quiet = plan_notifications([replace(ALERT, since=NOW + 60)], states, NOW + repeat - 1, repeat)
    assert quiet.notifications == []
    assert quiet.states == [AlertState(ALERT, NOW)]  # since stays the first one
    again = plan_notifications([ALERT], states, NOW + repeat, repeat)
    assert [n.event for n in again.notifications] == [Event.REPEAT]
    states = {s.alert.key: s for s in again.states}
    gone = plan_notifications([], states, NOW + repeat + 60, repeat)
    assert [(n.event, n.alert, n.at) for n in gone.notifications] == [
        (Event.RESOLVED, ALERT, NOW + repeat + 60)
    ]
    assert gone.resolved == ["disk:/data"]
    assert plan_notifications([], {}, NOW + repeat + 120, repeat).notifications == []


def test_a_changed_severity_notifies_at_once() -> None:
    states = {ALERT.key: AlertState(replace(ALERT, severity=Severity.WARNING), NOW)}
    plan = plan_notifications([ALERT], states, NOW + 60, 4 * HOUR)
    assert [(n.event, n.alert.severity) for n in plan.notifications] == [
        (Event.FIRING, Severity.CRITICAL)
    ]


def test_texts_of_firing_repeat_and_resolved() -> None:
    alert = replace(ALERT, customer="C1", zone="Asia/Tokyo")
    firing = plan_notifications([alert], {}, NOW, HOUR).notifications[0]
    assert subject(firing) == "[kenshin CRITICAL] Disk space low: /data"
    assert body(firing) == (
        "Only ...\n\nSince: 2026-11-27 13:00 JST (04:00 UTC)\n"
        "Severity critical, key disk:/data, customer C1."
    )
    states = {alert.key: AlertState(alert, NOW)}
    repeat = plan_notifications([alert], states, NOW + 2 * HOUR + 600, HOUR).notifications[0]
    assert subject(repeat, "site-a") == "[site-a CRITICAL] still: Disk space low: /data"
    assert "Still active after 2 h 10 min." in body(repeat)
    resolved = plan_notifications([], states, NOW + 90_000, HOUR).notifications[0]
    assert subject(resolved) == "[kenshin RESOLVED] Disk space low: /data"
    assert body(resolved).startswith(
        "Resolved at 2026-11-28 14:00 JST (05:00 UTC), after 1 d 1 h. It was:\n\nOnly ..."
    )
    assert (
        digest_subject([firing, resolved])
        == "[kenshin] 2 alert notifications (1 active, 1 resolved)"
    )


def test_rate_limit_sends_singles_then_one_digest_then_waits() -> None:
    items = list(range(10))
    assert rate_limited(items, [], NOW, 5, 600) == [[0], [1], [2], [3], [4, 5, 6, 7, 8, 9]]
    assert rate_limited(items[:3], [], NOW, 5, 600) == [[0], [1], [2]]
    sent = [NOW - 100, NOW - 200, NOW - 700]  # two within the window
    assert rate_limited(items, sent, NOW, 3, 600) == [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]
    assert rate_limited(items, sent, NOW, 3, 600, digest_max=4) == [[0, 1, 2, 3]]
    assert rate_limited(items, [NOW - 1] * 3, NOW, 3, 600) == []


def test_certificates_ending_within_the_warning_time_alert() -> None:
    day = 24 * HOUR
    certificates = [
        CertificateExpiry("MQTT endpoint", NOW + 10 * day),
        CertificateExpiry("FTPS server", NOW - HOUR),
        CertificateExpiry("units' certificate authority", NOW + 3000 * day),
        CertificateExpiry("U-2", NOW + 29 * day, "C1"),
        CertificateExpiry("U-1", NOW + 2 * day, "C1"),
        CertificateExpiry("U-3", NOW + 31 * day, "C1"),
        CertificateExpiry("U-9", NOW + 400 * day, "C2"),
    ]
    found = by_key(obs(certificates=certificates))
    assert sorted(found) == [
        "certificate:FTPS server",
        "certificate:MQTT endpoint",
        "certificates:C1",
    ]
    endpoint = found["certificate:MQTT endpoint"]
    assert (endpoint.severity, endpoint.title) == (
        Severity.WARNING,
        "Certificate ending: MQTT endpoint",
    )
    assert "ends 2026-12-07 13:00 JST (04:00 UTC)" in endpoint.text
    assert "`kenshin server-cert`" in endpoint.text
    ended = found["certificate:FTPS server"]
    assert (ended.severity, ended.title) == (Severity.CRITICAL, "Certificate ended: FTPS server")
    units = found["certificates:C1"]
    assert (units.severity, units.customer, units.since) == (Severity.WARNING, "C1", NOW + 2 * day)
    assert "2 unit(s) of customer C1 end within 30 days: U-1 (2026-11-29 13:00 JST" in units.text
    assert "U-2 (2026-12-26 13:00 JST" in units.text
    assert "U-3" not in units.text
    assert by_key(obs(certificates=certificates), Thresholds(certificate_expiry_days=1)) == {
        "certificate:FTPS server": ended
    }
