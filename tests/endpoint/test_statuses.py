"""Units' status messages: the latest of each unit is stored, whatever a unit sends,
and nothing a unit sends after its revocation is."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing

import pytest

from kenshin.entrypoints.mqtt import statuses
from kenshin.entrypoints.mqtt.codec import PingReq, PingResp, PubAck, Publish, encode
from kenshin.entrypoints.mqtt.server import EndpointSettings

from .conftest import Site
from .test_security import connect, exchange

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _quick_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Statuses are stored 0.1 s after they came, not up to a second: the tests, which
    wait for them, wait less."""
    monkeypatch.setattr(statuses, "FLUSH_S", 0.1)


@pytest.fixture
def endpoint_settings() -> EndpointSettings:
    """Connected units are checked for revocation only once a minute: a revoked unit
    stays connected, and what it sends is left out when it would be stored."""
    return EndpointSettings("127.0.0.1", 0, connect_timeout_s=5, revocation_check_s=60)


def stored_status(site: Site, device: str, wanted: bytes, within: float = 5.0) -> bytes | None:
    """The status of ``device`` in the store once it is ``wanted`` (or after ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        stored = site.store.unit_clocks.statuses().get(device)
        payload = None if stored is None else stored[1]
        if payload == wanted or time.monotonic() > deadline:
            return payload
        time.sleep(0.02)


async def _pending_tasks() -> int:
    return len(asyncio.all_tasks())


def test_a_flood_of_status_messages_holds_little_and_stores_the_latest(site: Site) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    filler = b"x" * 20_000
    flood = b"".join(
        encode(Publish("dt/kenshin/U-1/status", b'{"n": %d, "f": "%s"}' % (n, filler)), 5)
        for n in range(2000)
    )
    conn.sendall(flood)  # QoS 0: nothing comes back
    # Once the PINGRESP is back, every PUBLISH before it is handled.
    assert exchange(conn, 5, PingReq(), expect=1) == [PingResp()]
    pending = site.call(_pending_tasks())
    assert isinstance(pending, int)
    assert pending < 20  # not a task (and a payload held) per message
    last = b'{"n": 1999, "f": "%s"}' % filler
    assert site.endpoint.statuses["U-1"][1] == last
    assert stored_status(site, "U-1", last) == last


def test_a_status_sent_after_the_revocation_is_not_stored(site: Site) -> None:
    site.unit("U-1")
    site.unit("U-2")
    revoked, other = connect(site, "U-1", 5), connect(site, "U-2", 5)
    before = Publish("dt/kenshin/U-1/status", b'{"rsrp": -90}', qos=1, packet_id=1)
    assert exchange(revoked, 5, before, expect=1) == [PubAck(1)]
    assert stored_status(site, "U-1", b'{"rsrp": -90}') == b'{"rsrp": -90}'
    site.store.certificates.revoke_device("U-1", int(time.time()))
    after = Publish("dt/kenshin/U-1/status", b'{"rsrp": -70}', qos=1, packet_id=2)
    exchange(revoked, 5, after, expect=1)
    # A status of another unit, sent later, is stored: so would the revoked unit's be.
    later = Publish("dt/kenshin/U-2/status", b'{"rsrp": -80}', qos=1, packet_id=1)
    assert exchange(other, 5, later, expect=1) == [PubAck(1)]
    assert stored_status(site, "U-2", b'{"rsrp": -80}') == b'{"rsrp": -80}'
    assert site.store.unit_clocks.statuses()["U-1"][1] == b'{"rsrp": -90}'


def test_a_status_the_store_cannot_take_is_logged_and_stored_later(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site.unit("U-1")
    conn = connect(site, "U-1", 5)
    with (
        closing(sqlite3.connect(site.folder / "kenshin.db")) as db,
        db,
    ):  # the table is gone for a while
        db.execute("ALTER TABLE unit_statuses RENAME TO away")
    status = Publish("dt/kenshin/U-1/status", b'{"rsrp": -90}', qos=1, packet_id=1)
    assert exchange(conn, 5, status, expect=1) == [PubAck(1)]
    deadline = time.monotonic() + 5
    while "cannot store the status" not in caplog.text:
        assert time.monotonic() < deadline, "the failure is not logged"
        time.sleep(0.02)
    with closing(sqlite3.connect(site.folder / "kenshin.db")) as db, db:
        db.execute("ALTER TABLE away RENAME TO unit_statuses")
    assert stored_status(site, "U-1", b'{"rsrp": -90}') == b'{"rsrp": -90}'
