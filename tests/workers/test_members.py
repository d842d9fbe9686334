"""The cluster's processes in the PostgreSQL store: heartbeats by the database's clock,
notes the next leader reads, and one lead at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from conftest import postgres_url
from kenshin.adapters.postgres import PostgresStore
from kenshin.domain.cluster import Member
from kenshin.entrypoints.worker_lead import StoredReportDays

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path, postgres_database: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url(tmp_path), create=True, max_connections=2)
    yield opened
    opened.close()


def test_heartbeats_are_kept_by_the_databases_clock_and_forgotten_on_request(
    store: PostgresStore,
) -> None:
    seen = store.members.beat(
        Member("w1", "worker", "node-a", 10, 1000, 0, True, 0.5, {"stored": 7})
    )
    store.members.beat(Member("w2", "worker", "node-b", 11, 1001, 0))
    found, now = store.members.list_members()
    assert [(m.name, m.host, m.leader, m.counts) for m in found] == [
        ("w1", "node-a", True, {"stored": 7}),
        ("w2", "node-b", False, {}),
    ]
    assert seen <= found[0].seen_at <= now
    store.members.beat(Member("w1", "worker", "node-a", 12, 2000, 0, False))
    found, _ = store.members.list_members()
    assert (found[0].pid, found[0].leader) == (12, False)
    store.members.forget("w2")
    assert [m.name for m in store.members.list_members()[0]] == ["w1"]


def test_the_last_report_day_is_kept_for_the_next_leader(store: PostgresStore) -> None:
    days = StoredReportDays(store.members)
    assert days.last() is None
    days.keep(date(2026, 12, 4))
    days.keep(date(2026, 12, 5))
    assert StoredReportDays(store.members).last() == date(2026, 12, 5)


def test_one_lead_at_a_time_and_the_next_once_it_is_given_up(store: PostgresStore) -> None:
    first, second = store.leadership(), store.leadership()
    assert first.try_lead()
    assert first.try_lead()  # held still
    assert not second.try_lead()
    first.resign()
    assert second.try_lead()
    assert not first.try_lead()
    second.resign()
