"""The alerts that ended, on every store: kept, listed newest first from a time, pruned."""

from __future__ import annotations

from kenshin.domain.alerts import Alert, ResolvedAlert, Severity
from kenshin.ports import Store

NOW = 1_795_752_000


def ended(key: str, at: int, customer: str | None = "C-001") -> ResolvedAlert:
    alert = Alert(key, Severity.WARNING, f"{key} title", "what to do", customer, at - 600)
    return ResolvedAlert(alert, at)


def test_ended_alerts_are_listed_newest_first_from_a_time_and_pruned(store: Store) -> None:
    history = store.alert_history
    assert history.resolved(0) == []
    history.add_resolved([ended("silent:U-1", NOW), ended("disk:/data", NOW + 60, None)])
    history.add_resolved([ended("silent:U-1", NOW + 60), ended("late:C-001", NOW + 120)])
    history.add_resolved([])
    assert history.resolved(0) == [
        ended("late:C-001", NOW + 120),
        ended("silent:U-1", NOW + 60),
        ended("disk:/data", NOW + 60, None),
        ended("silent:U-1", NOW),
    ]
    assert history.resolved(NOW + 60, limit=2) == [
        ended("late:C-001", NOW + 120),
        ended("silent:U-1", NOW + 60),
    ]
    assert history.resolved(NOW, limit=0) == []
    assert history.prune_resolved(NOW + 60) == 1
    assert [e.resolved_at for e in history.resolved(0)] == [NOW + 120, NOW + 60, NOW + 60]
