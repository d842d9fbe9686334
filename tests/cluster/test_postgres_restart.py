"""The PostgreSQL store when PostgreSQL restarts or crashes under it, on a server of the
tests' own: calls fail at once saying so while it is down and work again once it is
back, with the same store; a batch cut by a crash is stored wholly or not at all."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from conftest import kenshin, serve_process, wait_for
from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.postgres import PostgresStore
from kenshin.adapters.postgres_part import WAIT_S
from kenshin.bootstrap import init_project
from kenshin.domain.model import Customer, Reading, StoreResult
from kenshin.errors import StoreError, UnitError
from kenshin.sim.mqtt_unit import ACK_TIMEOUT_S, PahoUnit
from kenshin.sim.verify import load_truth, verify_files

from .conftest import PrivatePostgres

pytestmark = pytest.mark.integration

DAY = datetime.now(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=2)
T0 = 1_764_000_000 - 1_764_000_000 % 1800  # a slot boundary


@pytest.fixture
def store(
    private_postgres: PrivatePostgres, request: pytest.FixtureRequest
) -> Iterator[PostgresStore]:
    """A new store in a schema of the test's own on the private server."""
    schema = re.sub(r"\W", "_", request.node.name)[-60:]
    opened = PostgresStore(private_postgres.store_url(schema), create=True, max_connections=4)
    yield opened
    opened.close()


def customers(store: PostgresStore) -> list[str]:
    return [c.id for c in store.registry.list_customers()]


def test_calls_fail_at_once_while_postgresql_is_down_and_work_once_it_is_back(
    private_postgres: PrivatePostgres, store: PostgresStore
) -> None:
    store.registry.add_customer(Customer("C-1", "Acme"))
    private_postgres.stop()
    where = f"127.0.0.1:{private_postgres.port}"
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: customers(store), "reading customers"),
        (lambda: store.registry.add_customer(Customer("C-2", "B")), "adding customer 'C-2'"),
        (lambda: store.check_writable(), "checking the database"),
    ]
    for call, what in calls:
        started = time.monotonic()
        with pytest.raises(StoreError) as failed:
            call()
        assert time.monotonic() - started < WAIT_S  # not a wait for a connection to come
        assert str(failed.value) == (
            f"PostgreSQL at {where} is not reachable (Connection refused):"
            f" {what} was not done; try again once the server is back"
        )
    private_postgres.start()
    store.registry.add_customer(Customer("C-2", "B"))
    assert customers(store) == ["C-1", "C-2"]


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_every_call_after_a_restart_or_a_crash_works_on_the_same_store(
    private_postgres: PrivatePostgres, store: PostgresStore, how: str
) -> None:
    store.registry.add_customer(Customer("C-1", "Acme"))
    with ThreadPoolExecutor(4) as threads:  # several connections in the pool, all cut
        assert list(threads.map(lambda _: customers(store), range(40))) == [["C-1"]] * 40
        getattr(private_postgres, how)()
        assert list(threads.map(lambda _: customers(store), range(40))) == [["C-1"]] * 40
    store.registry.add_customer(Customer("C-2", "B"))
    assert customers(store) == ["C-1", "C-2"]
    store.check_writable()


def batch(meters: int, slots: int) -> list[Reading]:
    return [
        Reading(f"M-{m:05d}", T0 + 1800 * s, 1000 * s + m, 0)
        for s in range(slots)
        for m in range(meters)
    ]


def stored(store: PostgresStore, meters: int) -> list[Reading]:
    ids = [f"M-{m:05d}" for m in range(meters)]
    return [r for _, found in store.readings.readings_between(ids, T0, T0 + 10**6) for r in found]


def writing(observer: psycopg.Connection[object]) -> bool:
    """Whether a client's transaction other than the observer's has written (it has a
    transaction id then)."""
    rows = observer.execute(
        "SELECT 1 FROM pg_stat_activity WHERE backend_type = 'client backend'"
        " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
    ).fetchall()
    return bool(rows)


def test_a_batch_cut_by_a_crash_is_stored_wholly_or_not_at_all_and_goes_again_once(
    private_postgres: PrivatePostgres, store: PostgresStore
) -> None:
    meters, slots = 2000, 150  # 300,000 readings: a second or more to store
    readings = batch(meters, slots)
    outcome: list[StoreResult | StoreError] = []

    def commit() -> None:
        try:
            outcome.append(store.readings.add_readings(readings, T0))
        except StoreError as exc:
            outcome.append(exc)

    with psycopg.connect(private_postgres.url, autocommit=True) as observer:
        committing = threading.Thread(target=commit)
        committing.start()
        wait_for("the batch's transaction to write", lambda: writing(observer))
        private_postgres.kill()
    committing.join(60)
    (first,) = outcome
    found = stored(store, meters)
    if isinstance(first, StoreError):
        assert "the connection to PostgreSQL at 127.0.0.1:" in str(first)
        assert len(found) in (0, len(readings))
    else:
        assert len(found) == len(readings)
    # Its sender was not acknowledged: it sends the batch again.
    again = store.readings.add_readings(readings, T0 + 60)
    assert (again.stored + again.duplicates, again.conflicts) == (len(readings), ())
    assert sorted(stored(store, meters), key=lambda r: (r.meter, r.t)) == sorted(
        readings, key=lambda r: (r.meter, r.t)
    )


# end to end: kenshin serve on the server while units publish


def fleet_options(site: Path) -> list[str]:
    """``kenshin simulate``'s options for the test's fleet (five units, one day)."""
    fleet = ["--devices", "5", "--start", DAY.isoformat(), "--faults", "all", "--seed", "3"]
    return [*fleet, "--out", str(site / "fleet.jsonl")]


def postgres_site(tmp_path: Path, url: str) -> Path:
    """A data folder whose store is at ``url``, with customer C-001 and the simulated
    fleet's units registered (their files in site/certs)."""
    site = tmp_path / "site"
    init_project(site)
    config = site / "kenshin.toml"
    config.write_text(config.read_text().replace('url = ""', f'url = "{url}"', 1))
    for command in (
        ["db", "upgrade"],
        ["customers", "add", "C-001", "--name", "Example"],
        ["simulate", *fleet_options(site)],
        ["devices", "add", "--customer", "C-001", "--file", str(site / "fleet.devices.csv")],
    ):
        result = kenshin(site, *command)
        assert result.exit_code == 0, result.output
    ids = [row.split(",")[0] for row in (site / "fleet.devices.csv").read_text().split()[1:]]
    certs = ["--out", str(site / "certs")]
    issued = kenshin(site, "devices", "add", *ids, "--customer", "C-001", *certs)
    assert issued.exit_code == 0, issued.output
    return site


PACE = ["--speed", "10800", "--wake-minutes", "60"]  # a day in 8 s, 24 wakes a unit


def publish(site: Path, port: int) -> subprocess.Popen[str]:
    """The fleet publishing to the endpoint on ``port``, as a process."""
    endpoint = ["--host", "127.0.0.1", "--port", str(port), "--certs", str(site / "certs")]
    kenshin_simulate = [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml")]
    return subprocess.Popen(
        [*kenshin_simulate, "simulate", *fleet_options(site), *endpoint, *PACE],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def refused(line: str) -> bool:
    """Whether a line of kenshin serve's log says a unit was refused for the store: a
    commit failed, or a connection was closed as the certificate could not be checked."""
    return "none is acknowledged" in line or "its certificate cannot be checked" in line


def through_outages(server: PrivatePostgres, url: str, logged: list[str], unit: PahoUnit) -> None:
    """While the units publish: a restart, an outage long enough for units to be refused,
    a crash; each once the store has taken new batches since the one before. A unit
    connecting during the outage is closed at once: not left waiting for an answer."""
    with closing(PostgresStore(url)) as watching:  # recovers as well, as it goes

        def more_batches() -> None:
            seen = watching.readings.last_batch()
            wait_for("new batches stored", lambda: watching.readings.last_batch() >= seen + 3)

        more_batches()
        server.restart()
        more_batches()
        server.stop()
        wait_for("a unit refused", lambda: any(refused(line) for line in logged))
        started = time.monotonic()
        with pytest.raises(UnitError, match=f"closed the connection of {unit.device} before"):
            unit.probe()
        assert time.monotonic() - started < ACK_TIMEOUT_S
        server.start()
        more_batches()
        server.kill()


def test_units_publishing_through_restarts_of_postgresql_lose_nothing_and_repeat_nothing(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    url = private_postgres.store_url("end_to_end")
    site = postgres_site(tmp_path, url)
    env = {"KENSHIN_MQTT__PORT": "0", "KENSHIN_MQTT__HOST": "127.0.0.1"}
    env |= {"KENSHIN_FTPS__ENABLED": "false", "KENSHIN_SFTP__ENABLED": "false"}
    server, ports = serve_process(site, env)
    assert server.stdout is not None
    assert server.stderr is not None
    logged: list[str] = []  # kenshin serve's log
    logging = threading.Thread(target=lambda: logged.extend(server.stderr or ()))
    logging.start()
    publishing = publish(site, ports["MQTT over TLS"])
    try:
        unit = PahoUnit("127.0.0.1", ports["MQTT over TLS"], site / "certs", "U-000001")
        through_outages(private_postgres, url, logged, unit)
        output, _ = publishing.communicate(timeout=60)
    finally:
        if publishing.poll() is None:
            publishing.kill()
            publishing.communicate()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        logging.join(10)
        server.stdout.close()
        server.stderr.close()
    # Every failure was met: none was left to the event loop.
    assert not [line for line in logged if "exception was never retrieved" in line]
    lines = (site / "fleet.jsonl").read_text().splitlines()
    assert publishing.returncode == 0, output
    assert f": {len(lines)} of {len(lines)} messages acknowledged over" in output
    failed = re.search(r"; (\d+) wakes failed and were retried; 0 messages not ", output)
    assert failed, output
    assert int(failed[1]) > 0, output  # the units saw the outage
    exported = kenshin(site, "export", "--customer", "C-001", "--date", DAY.isoformat())
    assert exported.exit_code == 0, exported.output
    truth = load_truth(site / "fleet.truth.csv")
    check = verify_files(LocalOutbox(site / "outbox"), Customer("C-001", "Example"), truth)
    assert (check.mismatches, check.missing) == ([], 0)
    assert check.matched + check.estimated == len(truth) > 5 * 48
