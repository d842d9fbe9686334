"""Two exports of one customer's files at once (``kenshin export`` beside the schedule,
or two processes that both think they lead): they take turns, so no file goes back to
older data under a revision number another export already used."""

from __future__ import annotations

import threading
from pathlib import Path

from kenshin.adapters.outbox import LocalOutbox
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.model import Device, Meter
from kenshin.services.export import export_day
from test_export import ACME, DAY, NAME, NOON, SPEC, boundary_readings


class HeldOutbox(LocalOutbox):
    """An outbox whose publish of the day file, once ``held``, waits until ``go`` is set
    (a slow disk, a network folder), saying when it has begun."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.held = False
        self.publishing = threading.Event()
        self.go = threading.Event()

    def publish(self, customer_id: str, name: str, content: bytes) -> None:
        if name == NAME and self.held and not self.publishing.is_set():
            self.publishing.set()
            assert self.go.wait(20)
        super().publish(customer_id, name, content)


def test_a_second_export_waits_for_the_first_and_publishes_after_it(tmp_path: Path) -> None:
    first, second = (SqliteStore(tmp_path / "kenshin.db") for _ in range(2))  # two processes
    try:
        first.registry.add_customer(ACME)
        first.registry.add_device(Device("U-1", "C1"))
        first.registry.save_meters([Meter("M-1", "U-1", SPEC)])
        readings = boundary_readings("M-1")
        first.readings.add_readings(readings[:20], NOON - 600)
        outbox = HeldOutbox(tmp_path / "outbox")
        assert export_day(first, outbox, ACME, DAY, now=NOON - 300).revision == 1
        first.readings.add_readings(readings[20:30], NOON - 60)
        outbox.held = True
        slow = threading.Thread(
            target=export_day, args=(first, outbox, ACME, DAY), kwargs={"now": NOON}
        )
        slow.start()  # reads the store, then waits in the middle of publishing
        assert outbox.publishing.wait(20)
        second.readings.add_readings(readings[30:], NOON + 60)  # the rest of the day
        later = threading.Thread(
            target=export_day,
            args=(second, LocalOutbox(tmp_path / "outbox"), ACME, DAY),
            kwargs={"now": NOON + 120},
        )
        later.start()
        later.join(0.3)
        assert later.is_alive()  # waits for the export under way
        outbox.go.set()
        slow.join(20)
        later.join(20)
        revisions = second.revisions.list_revisions("C1", DAY.isoformat())
        assert [r.revision for r in revisions] == [1, 2, 3]
        assert [r.actual_slots for r in revisions] == [19, 29, 48]
        published = (tmp_path / "outbox" / "C1" / NAME).read_bytes()
        assert published.decode().split("\r\n")[1].count("1.200") == 48  # the whole day
    finally:
        first.close()
        second.close()
