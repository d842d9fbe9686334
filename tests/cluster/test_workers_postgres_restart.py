"""Workers on Mosquitto and a PostgreSQL server of the tests' own, restarted and killed
while units publish: what could not be stored is not acknowledged to the broker, comes
again (or waits for the server, when a commit finds it restarting), and the files equal
the simulator's truth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_for
from workers.conftest import Cluster, make_cluster
from workers.test_reliability import finish, start_publishing

from .conftest import PrivatePostgres

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet(
    tmp_path: Path, private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    url = private_postgres.store_url(f"w{uuid.uuid4().hex[:12]}")
    yield from make_cluster(tmp_path, monkeypatch, units=40, url=url)


def test_postgresql_restarted_and_killed_under_the_workers_loses_nothing(
    fleet: Cluster, private_postgres: PrivatePostgres
) -> None:
    for name in ("w1", "w2"):
        fleet.start_worker(name)
    publishing = start_publishing(fleet, 40, 60)
    wait_for("readings stored", lambda: fleet.stored() > 400, timeout_s=60)
    private_postgres.restart()
    stored = fleet.stored()
    wait_for("readings stored again", lambda: fleet.stored() > stored + 200, timeout_s=60)
    private_postgres.kill()  # and started again: crash recovery
    assert publishing.poll() is None, "the units were done before PostgreSQL went down"
    finish(fleet, publishing)
