"""The Alerts part of every store: state, the queue per channel, security events and
failed exports."""

from __future__ import annotations

from dataclasses import replace

from kenshin.domain.alerts import (
    Alert,
    AlertMark,
    AlertState,
    Event,
    Notification,
    Queued,
    Severity,
)
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import ExportFailure
from kenshin.ports import Store

NOW = 1_795_752_000
DISK = Alert("disk:/data", Severity.CRITICAL, "Disk low", "Only 1 GiB", None, NOW - 60, "UTC")
SILENT = Alert("silent:C1", Severity.WARNING, "Silent", "U-1 ...", "C1", NOW - 7200, "Asia/Tokyo")


def test_a_round_saves_states_forgets_resolved_and_queues_in_order(store: Store) -> None:
    alerts = store.alerts
    firing = [Notification(Event.FIRING, DISK, NOW), Notification(Event.FIRING, SILENT, NOW)]
    alerts.save_round(
        [AlertState(DISK, NOW), AlertState(SILENT, NOW)],
        [],
        [("mail", firing[0]), ("slack", firing[0]), ("mail", firing[1])],
    )
    assert alerts.alert_states() == {
        "disk:/data": AlertState(DISK, NOW),
        "silent:C1": AlertState(SILENT, NOW),
    }
    mail = alerts.queued("mail")
    assert [(q.channel, q.notification) for q in mail] == [("mail", firing[0]), ("mail", firing[1])]
    assert mail[0].id < mail[1].id
    assert [q.channel for q in alerts.queued()] == ["mail", "slack", "mail"]

    resolved = Notification(Event.RESOLVED, DISK, NOW + 600)
    alerts.save_round([AlertState(SILENT, NOW + 600)], ["disk:/data"], [("mail", resolved)])
    assert alerts.alert_states() == {"silent:C1": AlertState(SILENT, NOW + 600)}
    assert [q.notification for q in alerts.queued("mail")] == [*firing, resolved]
    assert len(alerts.queued("mail", limit=2)) == 2
    assert alerts.queue_depths() == {"mail": 3, "slack": 1}


def test_the_round_of_an_alert_storm_is_saved_whole(store: Store) -> None:
    alerts = store.alerts
    storm = [replace(SILENT, key=f"silent:C{n:03d}", customer=f"C{n:03d}") for n in range(60)]
    notes = [Notification(Event.FIRING, alert, NOW) for alert in storm]
    outgoing = [(channel, note) for note in notes for channel in ("slack", "mail")]
    alerts.save_round([AlertState(alert, NOW) for alert in storm], [], outgoing)
    assert alerts.alert_states() == {alert.key: AlertState(alert, NOW) for alert in storm}
    assert alerts.queue_depths() == {"mail": 60, "slack": 60}
    assert [q.notification for q in alerts.queued("mail")] == notes
    assert [q.channel for q in alerts.queued(limit=3)] == ["slack", "mail", "slack"]
    alerts.save_round([], [alert.key for alert in storm[1:]], [])
    assert alerts.alert_states() == {storm[0].key: AlertState(storm[0], NOW)}


def test_failed_attempts_are_counted_and_delivered_ones_leave_the_queue(store: Store) -> None:
    alerts = store.alerts
    note = Notification(Event.REPEAT, SILENT, NOW)
    alerts.save_round([], [], [("hook", note), ("hook", note)])
    first, second = alerts.queued("hook")
    alerts.delivery_failed([first.id, second.id], "hook answered 503")
    alerts.delivery_failed([first.id], "connection refused")
    assert alerts.queued("hook") == [
        Queued(first.id, "hook", note, 2, "connection refused"),
        Queued(second.id, "hook", note, 1, "hook answered 503"),
    ]
    alerts.delivered([first.id])
    assert [q.id for q in alerts.queued()] == [second.id]
    alerts.delivered([second.id])
    assert alerts.queued() == []
    assert alerts.queue_depths() == {}


def test_security_events_are_kept_read_by_time_and_pruned(store: Store) -> None:
    alerts = store.alerts
    events = [
        SecurityEvent("login_failed", NOW - 100, "192.0.2.1:4000", "C1", "ftps: wrong password"),
        SecurityEvent("tls_not_tls", NOW - 300, "198.51.100.7:1"),
        SecurityEvent("topic_refused", NOW, "203.0.113.9:2", "U-1", "publish to 'x'"),
    ]
    alerts.add_security_events(events)
    assert alerts.security_events(NOW - 100) == [events[0], events[2]]
    assert alerts.security_events(0) == [events[1], events[0], events[2]]
    assert alerts.security_events(0, limit=1) == [events[1]]
    assert alerts.security_events(0, limit=2, newest=True) == [events[2], events[0]]
    assert alerts.security_events(NOW - 100, newest=True) == [events[2], events[0]]
    assert alerts.prune_security_events(NOW - 100) == 1
    assert alerts.security_events(0) == [events[0], events[2]]


def test_a_failed_export_stands_from_its_first_failure_until_one_succeeds(store: Store) -> None:
    alerts = store.alerts
    alerts.export_failed(ExportFailure("C2", "2026-11-26", "disk full", NOW))
    alerts.export_failed(ExportFailure("C1", "2026-11-26", "disk full", NOW))
    alerts.export_failed(ExportFailure("C1", "2026-11-27", "permission denied", NOW + 1800))
    assert alerts.export_failures() == [
        ExportFailure("C1", "2026-11-27", "permission denied", NOW),
        ExportFailure("C2", "2026-11-26", "disk full", NOW),
    ]
    alerts.export_succeeded("C1")
    alerts.export_succeeded("C3")  # never failed
    assert [f.customer for f in alerts.export_failures()] == ["C2"]


def test_an_alert_is_acknowledged_and_silenced_and_a_mark_replaces_the_one_before(
    store: Store,
) -> None:
    alerts = store.alerts
    assert alerts.alert_marks() == {}
    acknowledged = AlertMark("disk:/data", "ops", NOW)
    alerts.mark_alert(acknowledged)
    alerts.mark_alert(AlertMark("silent:C1", silenced_until=NOW + 3600, silenced_by="admin"))
    both = replace(acknowledged, silenced_until=NOW + 60, silenced_by="admin")
    alerts.mark_alert(both)
    assert alerts.alert_marks() == {
        "disk:/data": both,
        "silent:C1": AlertMark("silent:C1", None, None, NOW + 3600, "admin"),
    }
