"""The SQLite store keeps alert state, the queue and security events across a restart
(the Alerts part of every store: tests/contract/test_alert_state.py)."""

from __future__ import annotations

from pathlib import Path

from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.alerts import Alert, AlertState, Event, Notification, Severity
from kenshin.domain.model import SecurityEvent

NOW = 1_795_752_000
SILENT = Alert("silent:C1", Severity.WARNING, "Silent", "U-1 ...", "C1", NOW - 7200, "Asia/Tokyo")


def test_sqlite_keeps_state_and_queue_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    store = SqliteStore(path)
    note = Notification(Event.FIRING, SILENT, NOW)
    store.alerts.save_round([AlertState(SILENT, NOW)], [], [("mail", note)])
    store.alerts.add_security_events([SecurityEvent("login_locked", NOW, "192.0.2.1", "C1")])
    store.close()
    again = SqliteStore(path)
    try:
        assert again.alerts.alert_states() == {"silent:C1": AlertState(SILENT, NOW)}
        assert [q.notification for q in again.alerts.queued()] == [note]
        assert again.alerts.security_events(0) == [
            SecurityEvent("login_locked", NOW, "192.0.2.1", "C1")
        ]
    finally:
        again.close()
