"""Device certificates and their revocation, whichever store holds them."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.devices import MAX_SERIAL, DeviceCertificate
from kenshin.domain.model import Customer, Device
from kenshin.entrypoints.mqtt.peer import RevocationPoller
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError
from kenshin.ports import Store

from .conftest import StoreFactory, database_before

T0 = 1_795_964_400
YEARS = 10 * 365 * 86_400
BIG = 2**159 + 12_345  # what a random serial of 159 bits looks like: far beyond int64


def with_devices(store: Store) -> Store:
    """``store`` with customer C1 and devices U-1, U-2, U-3."""
    store.registry.add_customer(Customer("C1", "First"))
    for device in ("U-2", "U-1", "U-3"):
        store.registry.add_device(Device(device, "C1"))
    return store


def test_certificates_are_listed_by_device_then_oldest_first(store: Store) -> None:
    with_devices(store)
    store.certificates.add_certificate("U-2", 7, T0 + YEARS, T0)
    store.certificates.add_certificate("U-1", BIG, T0 + 60 + YEARS, T0 + 60)
    store.certificates.add_certificate("U-1", 5, T0 + YEARS, T0)
    first, second = (
        DeviceCertificate("U-1", 5, T0 + YEARS, T0),
        DeviceCertificate("U-1", BIG, T0 + 60 + YEARS, T0 + 60),
    )
    assert store.certificates.list_certificates("U-1") == [first, second]
    assert store.certificates.list_certificates() == [
        first,
        second,
        DeviceCertificate("U-2", 7, T0 + YEARS, T0),
    ]
    assert store.certificates.list_certificates("U-3") == []
    assert store.certificates.get_certificate(BIG) == second
    assert store.certificates.get_certificate(BIG + 1) is None


def test_a_certificate_needs_a_known_device_and_a_new_serial(store: Store) -> None:
    with_devices(store)
    with pytest.raises(NotFoundError, match="U-9"):
        store.certificates.add_certificate("U-9", 1, T0 + YEARS, T0)
    store.certificates.add_certificate("U-1", BIG, T0 + YEARS, T0)
    with pytest.raises(AlreadyExistsError, match=f"{BIG:x}"):
        store.certificates.add_certificate("U-2", BIG, T0 + 1, T0 + 1)
    assert store.certificates.list_certificates() == [DeviceCertificate("U-1", BIG, T0 + YEARS, T0)]


@pytest.mark.parametrize("serial", [0, -1, MAX_SERIAL + 1])
def test_a_serial_outside_twenty_bytes_is_refused(store: Store, serial: int) -> None:
    with_devices(store)
    with pytest.raises(StoreError, match=r"outside 1\.\.2\*\*160-1"):
        store.certificates.add_certificate("U-1", serial, T0 + YEARS, T0)
    assert store.certificates.list_certificates() == []


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(serials=st.lists(st.integers(1, MAX_SERIAL), min_size=1, max_size=6, unique=True))
def test_any_serial_comes_back_exactly_and_revokes_exactly(
    new_store: StoreFactory, serials: list[int]
) -> None:
    store = with_devices(new_store())
    for serial in serials:
        store.certificates.add_certificate("U-1", serial, T0 + YEARS, T0)
    assert [c.serial for c in store.certificates.list_certificates("U-1")] == sorted(serials)
    assert store.certificates.revoke_device("U-1", T0 + 5) == len(serials)
    assert store.certificates.revoked_serials() == set(serials)
    assert all(store.certificates.is_revoked(s) for s in serials)


def test_revoking_a_device_revokes_each_of_its_certificates_once(store: Store) -> None:
    with_devices(store)
    store.certificates.add_certificate("U-1", BIG, T0 + YEARS, T0)
    store.certificates.add_certificate("U-1", 5, T0 + YEARS, T0 + 10)
    store.certificates.add_certificate("U-2", 7, T0 + YEARS, T0)
    assert store.certificates.revoked_serials() == set()
    assert store.certificates.revoke_device("U-1", T0 + 100) == 2
    assert (
        store.certificates.revoke_device("U-1", T0 + 200) == 0
    )  # the first revocation's time stays
    assert [c.revoked_at for c in store.certificates.list_certificates()] == [
        T0 + 100,
        T0 + 100,
        None,
    ]
    assert (
        store.certificates.is_revoked(BIG),
        store.certificates.is_revoked(5),
        store.certificates.is_revoked(7),
    ) == (True, True, False)
    assert store.certificates.is_revoked(123) is False  # never recorded
    assert store.certificates.revoked_serials() == {BIG, 5}


def test_a_certificate_issued_after_a_revocation_is_valid(store: Store) -> None:
    with_devices(store)
    store.certificates.add_certificate("U-1", 5, T0 + YEARS, T0)
    assert store.certificates.revoke_device("U-1", T0 + 100) == 1
    store.certificates.add_certificate("U-1", 6, T0 + YEARS, T0 + 200)
    assert (store.certificates.is_revoked(5), store.certificates.is_revoked(6)) == (True, False)
    assert store.certificates.revoke_device("U-2", T0 + 300) == 0  # a device without certificates
    with pytest.raises(NotFoundError, match="U-9"):
        store.certificates.revoke_device("U-9", T0)


def test_revoked_serials_since_a_time_include_that_second(store: Store) -> None:
    with_devices(store)
    for serial, device in ((1, "U-1"), (2, "U-2"), (3, "U-3")):
        store.certificates.add_certificate(device, serial, T0 + YEARS, T0)
    store.certificates.revoke_device("U-1", T0 + 100)
    store.certificates.revoke_device("U-2", T0 + 200)
    assert store.certificates.revoked_serials(None) == {1, 2}
    assert store.certificates.revoked_serials(T0 + 100) == {1, 2}
    assert store.certificates.revoked_serials(T0 + 101) == {2}
    assert store.certificates.revoked_serials(T0 + 201) == set()


def test_the_poller_reports_each_revocation_even_one_committed_late(store: Store) -> None:
    with_devices(store)
    for serial, device in ((1, "U-1"), (2, "U-2"), (3, "U-3")):
        store.certificates.add_certificate(device, serial, T0 + YEARS, T0)
    store.certificates.revoke_device("U-1", T0)
    now = [T0 + 1000.0]
    poller = RevocationPoller(store.certificates.revoked_serials, clock=lambda: now[0])
    assert poller.poll() == {1}  # the first poll sees every revocation
    # U-2's revocation was timed just before that poll but committed after it.
    store.certificates.revoke_device("U-2", T0 + 990)
    now[0] += 30
    assert poller.poll() == {2}
    now[0] += 300
    assert poller.poll() == {2}  # the overlap reports it again; closing twice is harmless
    now[0] += 300
    assert poller.poll() == set()  # the previous poll was long after it: nothing new
    store.certificates.revoke_device("U-3", int(now[0]) + 5)
    now[0] += 30
    assert poller.poll() == {3}


# SQLite only
def test_sqlite_a_revocation_is_seen_by_another_connection(tmp_path: Path) -> None:
    cli = with_devices(SqliteStore(tmp_path / "kenshin.db"))
    endpoint = SqliteStore(tmp_path / "kenshin.db")  # the endpoint runs in a process of its own
    try:
        cli.certificates.add_certificate("U-1", BIG, T0 + YEARS, T0)
        assert endpoint.certificates.is_revoked(BIG) is False
        cli.certificates.revoke_device("U-1", T0 + 100)
        assert endpoint.certificates.is_revoked(BIG) is True
        assert endpoint.certificates.revoked_serials(T0) == {BIG}
    finally:
        cli.close()
        endpoint.close()


def test_sqlite_keeps_serials_as_text_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    store = with_devices(SqliteStore(path))
    store.certificates.add_certificate("U-1", BIG, T0 + YEARS, T0)
    store.certificates.revoke_device("U-1", T0 + 100)
    store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT serial, typeof(serial) FROM certificates").fetchall() == [
            (f"{BIG:040x}", "text")
        ]
    again = SqliteStore(path)
    assert again.certificates.list_certificates() == [
        DeviceCertificate("U-1", BIG, T0 + YEARS, T0, T0 + 100)
    ]
    again.close()


def test_sqlite_a_database_of_the_schema_before_certificates_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    database_before(path, "certificates")
    store = SqliteStore(path)
    store.certificates.add_certificate("U-1", BIG, T0 + YEARS, T0)
    assert store.certificates.revoke_device("U-1", T0 + 1) == 1
    assert store.certificates.revoked_serials() == {BIG}
    store.close()
