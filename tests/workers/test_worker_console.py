"""The console and the admin API on a cluster node: a worker's HTTP side serves them as
``kenshin serve`` does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.conftest import Cluster, make_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def small_cluster(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """One unit is enough: nothing is published."""
    yield from make_cluster(tmp_path, monkeypatch, units=1)


def test_a_worker_serves_the_console_and_the_admin_api(small_cluster: Cluster) -> None:
    small_cluster.start_worker("w1")
    base = f"http://127.0.0.1:{small_cluster.http_ports['w1']}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/api/v1/session", timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read()) == {"detail": "sign in first"}
    with urllib.request.urlopen(f"{base}/", timeout=10) as page:
        assert page.status == 200
        assert page.headers["content-type"].startswith("text/html")
        assert b"console.js" in page.read()
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as health:
        assert json.loads(health.read()) == {"status": "alive"}
