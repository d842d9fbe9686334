"""Workers that take messages of the same new meter at once: each reads the meter as the
store holds it, and neither writes over what the other wrote meanwhile. A unit's messages
of one wake are shared among the workers, so a new meter's first readings (and an
exchange) are seen by several of them at the same moment."""

from __future__ import annotations

import json
import threading
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import postgres_url
from kenshin.adapters.postgres import PostgresStore
from kenshin.domain.model import Customer, Device
from kenshin.services.ingest import Incoming, Ingest

pytestmark = pytest.mark.integration

T0 = 1_796_310_000  # 2026-12-04 00:00 in Asia/Tokyo
UNITS = 150


def message(unit: int, slot: int) -> bytes:
    """Unit ``unit``'s message of the reading at T0 + ``slot`` half hours."""
    t = T0 + slot * 1800
    at = datetime.fromtimestamp(t, UTC)
    meter = {"meter": f"M-{unit}", "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    reading = {"t": at.isoformat(), "fwd": 100 + slot, "rev": 0}
    document = {"v": 1, "device": f"U-{unit}", "seq": slot, "sent": at.isoformat()}
    return json.dumps({**document, "meters": [{**meter, "readings": [reading]}]}).encode()


def test_a_new_meters_first_readings_taken_by_two_workers_at_once_keep_it_in_service_from_the_first(
    tmp_path: Path, postgres_database: str
) -> None:
    url = postgres_url(tmp_path)
    with closing(PostgresStore(url, create=True)) as store:
        store.registry.add_customer(Customer("C-1", "One"))
        for unit in range(UNITS):
            store.registry.add_device(Device(f"U-{unit}", "C-1"))
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def worker(slot: int) -> None:
            # A worker of its own: its own store connections and its own cache of meters.
            with closing(PostgresStore(url)) as own:
                ingest = Ingest(own)
                start.wait()
                try:
                    for unit in range(UNITS):
                        ingest.ingest([Incoming("broker", message(unit, slot), T0 + 7200)])
                except BaseException as exc:  # reported below, not lost in the thread
                    failures.append(exc)

        threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert failures == []
        meters = store.registry.list_meters()
        assert len(meters) == UNITS
        # Before, about 40 % of the meters were in service from the later reading only,
        # and their first hour's slots had no value in the files.
        late = sorted(m.id for m in meters if m.installed_at != T0)
        assert late == []
        assert all(m.removed_at is None for m in meters)
