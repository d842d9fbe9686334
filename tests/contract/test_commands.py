"""The queue of commands to devices, whichever store holds it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.devices import Command
from kenshin.domain.model import Customer, Device
from kenshin.errors import NotFoundError, StoreError
from kenshin.ports import Store

from .conftest import StoreFactory, database_before

T0 = 1_795_964_400
RESEND = b'{"v":1,"command":"resend"}'


def with_devices(store: Store) -> Store:
    """``store`` with customer C1 and devices U-1, U-2."""
    store.registry.add_customer(Customer("C1", "First"))
    for device in ("U-2", "U-1"):
        store.registry.add_device(Device(device, "C1"))
    return store


def test_commands_queue_per_device_oldest_first(store: Store) -> None:
    with_devices(store)
    first = store.commands.add_command("U-1", "resend", RESEND, T0)
    other = store.commands.add_command("U-2", "resend", b"\x00\xff", T0 + 1)
    second = store.commands.add_command("U-1", "reboot", b"", T0 + 2)
    assert first < other < second
    assert store.commands.pending_commands("U-1") == [
        Command(first, "U-1", "resend", RESEND, T0),
        Command(second, "U-1", "reboot", b"", T0 + 2),
    ]
    assert store.commands.pending_commands("U-2") == [
        Command(other, "U-2", "resend", b"\x00\xff", T0 + 1)
    ]
    assert store.commands.get_command(other) == Command(other, "U-2", "resend", b"\x00\xff", T0 + 1)
    assert store.commands.get_command(second + 1) is None


def test_commands_of_a_name_since_a_time_include_acknowledged_ones(store: Store) -> None:
    with_devices(store)
    old = store.commands.add_command("U-1", "resend", RESEND, T0 - 1)
    first = store.commands.add_command("U-1", "resend", RESEND, T0)
    store.commands.add_command("U-2", "reboot", b"", T0 + 1)
    second = store.commands.add_command("U-2", "resend", RESEND, T0 + 2)
    store.commands.acknowledge_command(first, T0 + 3)
    assert [c.id for c in store.commands.commands_named("resend", T0)] == [first, second]
    assert store.commands.commands_named("resend", T0)[0].acknowledged_at == T0 + 3
    assert [c.id for c in store.commands.commands_named("resend", 0)] == [old, first, second]
    assert store.commands.commands_named("reset", 0) == []


def test_a_payload_can_name_its_own_command(store: Store) -> None:
    with_devices(store)
    store.commands.add_command("U-1", "resend", RESEND, T0)
    command_id = store.commands.add_command("U-1", "resend", lambda i: b'{"id":%d}' % i, T0)
    command = store.commands.get_command(command_id)
    assert command is not None
    assert command.payload == b'{"id":%d}' % command_id


def test_a_command_needs_a_known_device_and_a_name_that_is_one_topic_level(store: Store) -> None:
    with_devices(store)
    with pytest.raises(NotFoundError, match="U-9"):
        store.commands.add_command("U-9", "resend", RESEND, T0)
    for name in ("", "Resend", "re/send", "+", "#", "9lives", "x" * 33, "résend"):
        with pytest.raises(StoreError, match="no command name"):
            store.commands.add_command("U-1", name, RESEND, T0)
    assert store.commands.commands_after(0) == []


def test_commands_after_an_id_are_the_new_ones_not_acknowledged(store: Store) -> None:
    with_devices(store)
    ids = [
        store.commands.add_command(f"U-{d}", "resend", RESEND, T0 + n) for n, d in enumerate("1212")
    ]
    assert [c.id for c in store.commands.commands_after(0)] == ids
    assert [c.device for c in store.commands.commands_after(ids[0])] == ["U-2", "U-1", "U-2"]
    assert [c.id for c in store.commands.commands_after(0, limit=2)] == ids[:2]
    store.commands.acknowledge_command(ids[2], T0 + 10)
    assert [c.id for c in store.commands.commands_after(ids[0])] == [ids[1], ids[3]]
    assert store.commands.commands_after(ids[3]) == []


def test_sending_counts_and_the_first_acknowledgement_stays(store: Store) -> None:
    with_devices(store)
    command_id = store.commands.add_command("U-1", "resend", RESEND, T0)
    store.commands.command_sent(command_id, T0 + 5)
    store.commands.command_sent(command_id, T0 + 35)
    assert store.commands.pending_commands("U-1") == [
        Command(command_id, "U-1", "resend", RESEND, T0, sent_count=2, last_sent_at=T0 + 35)
    ]
    store.commands.acknowledge_command(command_id, T0 + 36)
    store.commands.acknowledge_command(command_id, T0 + 99)  # a duplicate PUBACK changes nothing
    assert store.commands.pending_commands("U-1") == []
    assert store.commands.get_command(command_id) == Command(
        command_id, "U-1", "resend", RESEND, T0, 2, T0 + 35, T0 + 36
    )


def test_an_acknowledged_command_counts_as_sent_even_if_the_sending_was_not_recorded(
    store: Store,
) -> None:
    with_devices(store)
    command_id = store.commands.add_command("U-1", "resend", RESEND, T0)
    store.commands.acknowledge_command(
        command_id, T0 + 7
    )  # the sending's record failed (store busy)
    assert store.commands.get_command(command_id) == Command(
        command_id, "U-1", "resend", RESEND, T0, 1, T0 + 7, T0 + 7
    )


def test_an_unknown_command_cannot_be_sent_or_acknowledged(store: Store) -> None:
    with_devices(store)
    with pytest.raises(NotFoundError, match="command 7 does not exist"):
        store.commands.command_sent(7, T0)
    with pytest.raises(NotFoundError, match="command 7 does not exist"):
        store.commands.acknowledge_command(7, T0)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.tuples(st.sampled_from(["U-1", "U-2"]), st.booleans()), max_size=12))
def test_pending_is_every_command_not_acknowledged_in_the_order_added(
    new_store: StoreFactory, steps: list[tuple[str, bool]]
) -> None:
    store = with_devices(new_store())
    added: list[tuple[int, str, bool]] = []
    for n, (device, acknowledged) in enumerate(steps):
        command_id = store.commands.add_command(device, "resend", b"%d" % n, T0 + n)
        added.append((command_id, device, acknowledged))
    for command_id, _, acknowledged in reversed(added):  # acknowledged in any order
        if acknowledged:
            store.commands.acknowledge_command(command_id, T0 + 100)
    for device in ("U-1", "U-2"):
        wanted = [i for i, d, a in added if d == device and not a]
        assert [c.id for c in store.commands.pending_commands(device)] == wanted
    assert [c.id for c in store.commands.commands_after(0)] == [i for i, _, a in added if not a]


# SQLite only
def test_sqlite_a_command_queued_by_another_process_is_seen_by_the_endpoints_poll(
    tmp_path: Path,
) -> None:
    endpoint = with_devices(SqliteStore(tmp_path / "kenshin.db"))
    cli = SqliteStore(tmp_path / "kenshin.db")  # kenshin devices resend: its own connection
    try:
        assert endpoint.commands.commands_after(0) == []
        command_id = cli.commands.add_command("U-1", "resend", lambda i: b"%d" % i, T0)
        [seen] = endpoint.commands.commands_after(0)
        assert (seen.id, seen.payload) == (command_id, b"%d" % command_id)
        endpoint.commands.acknowledge_command(command_id, T0 + 3)
        assert cli.commands.pending_commands("U-1") == []
    finally:
        cli.close()
        endpoint.close()


def test_sqlite_commands_survive_a_reopen_and_ids_are_never_given_twice(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    store = with_devices(SqliteStore(path))
    first = store.commands.add_command("U-1", "resend", RESEND, T0)
    newest = store.commands.add_command("U-2", "resend", RESEND, T0)
    store.commands.command_sent(first, T0 + 1)
    store.close()
    with closing(sqlite3.connect(path)) as db, db:  # the newest row gone: its id is not given again
        db.execute("DELETE FROM commands WHERE id = ?", (newest,))
    again = SqliteStore(path)
    try:
        assert again.commands.pending_commands("U-1") == [
            Command(first, "U-1", "resend", RESEND, T0, sent_count=1, last_sent_at=T0 + 1)
        ]
        assert again.commands.add_command("U-1", "resend", RESEND, T0 + 2) == newest + 1
    finally:
        again.close()


def test_sqlite_a_database_of_the_schema_before_commands_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.db"
    database_before(path, "commands")
    store = SqliteStore(path)
    try:
        command_id = store.commands.add_command("U-1", "resend", RESEND, T0)
        assert [c.id for c in store.commands.pending_commands("U-1")] == [command_id]
    finally:
        store.close()
