"""The DynamoDB registry's own, on moto: the lock of meters' changes as a lease among
processes, command ids taken by two processes at once, and a customer's meters read
without reading every meter of the site. What every store does is in tests/contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from kenshin.adapters.dynamo import DynamoStore
from kenshin.adapters.dynamo_lock import LeaseLock
from kenshin.adapters.dynamo_registry import DynamoRegistry
from kenshin.adapters.dynamo_tables import DynamoTables
from kenshin.domain.model import Customer, Device, Meter, MeterSpec, Watermark
from kenshin.errors import StoreError
from moto_s3 import moto_dynamodb

SPEC = MeterSpec(100, 1, 6)
T0 = 1_795_964_400


class Recording:
    """A DynamoDB client that notes the partition of each Query it passes on."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queried: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def query(self, **request: Any) -> Any:
        self.queried.append(request["ExpressionAttributeValues"][":pk"]["S"])
        return self.client.query(**request)


@pytest.fixture
def client() -> Iterator[Any]:
    """A DynamoDB client on moto, with the store's tables made."""
    with moto_dynamodb("site-") as client:
        yield client


def process(client: Any) -> DynamoStore:
    """The store as one more process of the site sees it (a Lambda invocation)."""
    return DynamoStore("dynamodb://site-", client=client)


def lock(client: Any, **settings: Any) -> LeaseLock:
    """The lock of meters' changes as a process of its own takes it, with ``settings``."""
    return LeaseLock(DynamoTables.open("dynamodb://site-", client), "meters", **settings)


def test_a_process_waits_for_the_lock_of_meters_changes_until_its_holder_lets_go(
    client: Any,
) -> None:
    first = process(client).registry
    waiting, taken = threading.Event(), threading.Event()

    def wait(seconds: float) -> None:
        waiting.set()
        threading.Event().wait(seconds)

    second = DynamoRegistry(process(client).tables, lock(client, sleep=wait))
    order: list[str] = []

    def change() -> None:
        with second.changing_meters() as shared:
            order.append(f"second held, shared={shared}")
            taken.set()

    with first.changing_meters() as shared:
        other = threading.Thread(target=change)
        other.start()
        assert waiting.wait(10)  # it tried, and waits
        assert not taken.is_set()
        order.append(f"first let go, shared={shared}")
    assert taken.wait(10)
    other.join(10)
    assert order == ["first let go, shared=True", "second held, shared=True"]


def test_a_lease_that_ran_out_is_taken_over_and_its_old_holder_frees_nothing(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    now = [float(T0)]
    stalled, other, third = (lock(client, clock=lambda: now[0], wait_s=0) for _ in range(3))
    with ExitStack() as holding:
        holding.enter_context(stalled.held())
        with pytest.raises(StoreError, match="held by another process"), other.held():
            pass
        now[0] += 31  # the holder stopped (a Lambda frozen): its lease of 30 s ran out
        with other.held():
            holding.close()  # the stalled one wakes up and lets go: too late
            with pytest.raises(StoreError, match="held by another process"), third.held():
                pass
    assert "the lock 'meters' was taken over while held" in caplog.text
    with third.held():  # let go by its new holder: free
        pass


def test_a_lease_held_longer_than_itself_is_renewed(client: Any) -> None:
    now = [float(T0)]
    holder = lock(client, clock=lambda: now[0], renew_s=0.01)
    other = lock(client, clock=lambda: now[0], wait_s=0)
    tables = DynamoTables.open("dynamodb://site-", client)

    def expires() -> int:
        item = tables.get(tables.records, {"pk": {"S": "lock"}, "sk": {"S": "meters"}})
        assert item is not None
        return int(item["expires"]["N"])

    with holder.held():
        now[0] += 25
        pause = threading.Event()
        for _ in range(1000):  # until the holder's thread has pushed it on (10 s at most)
            if expires() >= (T0 + 25 + 30) * 1000:
                break
            pause.wait(0.01)
        assert expires() >= (T0 + 25 + 30) * 1000
        now[0] += 10  # past the first lease's end: still held
        with pytest.raises(StoreError, match="held by another process"), other.held():
            pass


def test_waiting_for_the_lock_ends_with_an_error_that_says_so(client: Any) -> None:
    now = [float(T0)]

    def wait(seconds: float) -> None:
        now[0] += seconds

    holder = lock(client, clock=lambda: now[0], lease_s=600)
    waiter = lock(client, clock=lambda: now[0], sleep=wait)
    with (
        holder.held(),
        pytest.raises(StoreError, match=r"'meters' was held .* all of 60 s"),
        waiter.held(),
    ):
        pass
    assert now[0] >= T0 + 60


def test_meters_saved_by_processes_at_once_are_numbered_once_each(client: Any) -> None:
    stores = [process(client) for _ in range(2)]
    stores[0].registry.add_customer(Customer("C1", "First"))
    stores[0].registry.add_device(Device("D1", "C1"))
    failures: list[BaseException] = []

    def register(n: int) -> None:
        try:
            for k in range(6):
                stores[n].registry.save_meters([Meter(f"M{n}-{k}", "D1", SPEC)])
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=register, args=(n,)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert failures == []
    registry = stores[1].registry
    assert registry.last_meter() == 12
    for upto in range(13):
        assert len(registry.list_meters("C1", as_of=Watermark(0, upto))) == upto


class DiesBetween:
    """A boto3 DynamoDB client of a process that dies between the two steps of saving a
    new meter (writing it, moving the counter of meters), whichever comes first."""

    def __init__(self, client: Any) -> None:
        self._client, self._steps = client, 0

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in ("batch_write_item", "update_item"):
            return call

        def step(**request: Any) -> Any:
            counter = request.get("Key", {}).get("sk", {}).get("S") == "meters"
            if name == "batch_write_item" or counter:
                self._steps += 1
                if self._steps == 2:
                    error = {"Error": {"Code": "InternalServerError", "Message": "gone"}}
                    raise self._client.exceptions.InternalServerError(error, name)
            return call(**request)

        return step


def test_a_meter_saved_again_after_a_failed_save_is_read_as_of_every_later_watermark(
    client: Any,
) -> None:
    site = process(client)
    site.registry.add_customer(Customer("C1", "First"))
    site.registry.add_device(Device("D1", "C1"))
    dying = DynamoStore("dynamodb://site-", client=DiesBetween(client))
    with pytest.raises(StoreError, match="InternalServerError"):
        dying.registry.save_meters([Meter("M1", "D1", SPEC)])
    site.registry.save_meters([Meter("M1", "D1", SPEC)])  # the messages come again
    mark = Watermark(0, site.registry.last_meter())
    assert [m.id for m in site.registry.list_meters("C1", as_of=mark)] == ["M1"]


def test_command_ids_taken_by_two_processes_at_once_are_each_given_once(client: Any) -> None:
    here, there = process(client), process(client)
    here.registry.add_customer(Customer("C1", "First"))
    here.registry.add_device(Device("U-1", "C1"))
    inner: list[int] = []

    def payload(command_id: int) -> bytes:
        if not inner:  # another process adds one between this one's taking and writing
            inner.append(there.commands.add_command("U-1", "reboot", b"", T0))
        return b'{"id":%d}' % command_id

    outer = here.commands.add_command("U-1", "resend", payload, T0)
    assert (inner, outer) == ([1], 2)
    command = here.commands.get_command(outer)
    assert command is not None
    assert command.payload == b'{"id":2}'
    assert [c.id for c in there.commands.commands_after(0)] == [1, 2]


def test_a_customers_meters_are_read_through_its_devices_not_every_meter(client: Any) -> None:
    recording = Recording(client)
    store = DynamoStore("dynamodb://site-", client=recording)
    store.registry.add_customer(Customer("C1", "First"))
    store.registry.add_customer(Customer("C2", "Second"))
    store.registry.add_device(Device("D1", "C1"))
    store.registry.add_device(Device("D2", "C2"))
    store.registry.save_meters([Meter(f"M{n}", f"D{n % 2 + 1}", SPEC) for n in range(6)])
    store.registry.save_meters([Meter("M1", "D2", SPEC)])  # moved: now C2's
    recording.queried.clear()
    assert [m.id for m in store.registry.list_meters("C1")] == ["M0", "M2", "M4"]
    assert [m.id for m in store.registry.list_meters("C2")] == ["M1", "M3", "M5"]
    assert "meter" not in recording.queried
    assert set(recording.queried) == {
        "customer-devices#C1",
        "customer-devices#C2",
        "device-meters#D1",
        "device-meters#D2",
    }
