"""Packing days (``Store.readings.compact``) and settling them (``settle``: the packed
rows become the record) never change what is read.

Every store must read the same boundary registers and readings as the in-memory store
given the same batches, and tell each batch's readings alike, whether days were packed
or settled before, between or after them.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.model import Customer, Device, Meter, MeterSpec, Reading, Watermark
from kenshin.ports import Compacting, ReadingDays, Settling, Store

from .conftest import StoreFactory

U0 = 1_795_910_400  # 2026-11-29 00:00 UTC
T0 = U0 + 15 * 3600  # 2026-11-30 00:00 in Asia/Tokyo
METERS = ["M1", "M2", "M3"]
# (start, slots): a Tokyo day over two UTC days, a UTC day, a day of a zone off the
# UTC half hours (Kathmandu-like), and a span over every day with its edges.
WINDOWS = [(T0, 48), (U0 + 86_400, 48), (T0 + 900, 47), (U0 - 1800, 150)]
# Days read at once, as a day and its like days are: Tokyo and UTC days, out of order,
# over the same UTC days and others, one without readings; and days off the half hours.
DAY_SETS = [
    ([T0, U0 + 86_400, U0 - 86_400, T0 + 2 * 86_400, T0 - 86_400], 48),
    ([T0 + 900, T0 + 900 + 86_400], 47),
]

# Mostly on the UTC half hours (a meter-day with a reading between them is never
# settled), sometimes between them.
TIMES = st.one_of(
    st.integers(0, 3 * 48).map(lambda k: U0 + 1800 * k),
    st.integers(0, 3 * 96).map(lambda k: U0 + 900 * k),
)
# When each meter's unit sent: M1 always at one of a few times (known send lags are kept
# when settled), M2 never known, M3 either (its days mixed, never settled): a conflict
# sent earlier replaces a stored value.
SENDS = {
    "M1": st.sampled_from([T0, T0 + 60, T0 + 120]),
    "M2": st.just(0),
    "M3": st.sampled_from([0, T0, T0 + 60, T0 + 120]),
}
REGISTER = st.one_of(st.none(), st.integers(0, 3))


def readings_of(
    register: st.SearchStrategy[int | None], sends: dict[str, st.SearchStrategy[int]]
) -> st.SearchStrategy[Reading]:
    return st.sampled_from(METERS).flatmap(
        lambda meter: st.builds(Reading, st.just(meter), TIMES, register, register, sends[meter])
    )


readings = readings_of(REGISTER, SENDS)
# compact(before), and compact then settle: ("settle", before)
packing = st.integers(0, 4).map(lambda days: U0 + days * 86_400)
settling = st.tuples(st.just("settle"), packing)
steps = st.lists(
    st.one_of(st.lists(readings, min_size=1, max_size=40), packing, settling),
    max_size=8,
)
Step = list[Reading] | int | tuple[str, int]


def compact(store: Store, before: int) -> int:
    """Pack the days that ended before ``before`` where the store can (Compacting)."""
    readings = store.readings
    return readings.compact(before) if isinstance(readings, Compacting) else 0


def settle(store: Store, before: int) -> int:
    """Pack, then settle the days that ended before ``before`` where the store can."""
    compact(store, before)
    readings = store.readings
    return readings.settle(before, 1_000) if isinstance(readings, Settling) else 0


def run(store: Store, step: Step) -> object:
    """Store a batch, pack or settle; what storing told."""
    if isinstance(step, int):
        return compact(store, step)
    if isinstance(step, tuple):
        return settle(store, step[1])
    return store.readings.add_readings(step, U0)


def readings_now(store: Store) -> list[list[tuple[object, ...]]]:
    """Every meter's readings as they are now (``readings_between``)."""
    found = store.readings.readings_between([*METERS, "M-unknown"], 0, 2**40)
    return [[(r.meter, r.t, r.fwd, r.rev) for r in meter_readings] for _, meter_readings in found]


def read_all(store: Store, as_of: Watermark | None = None) -> list[object]:
    found: list[object] = []
    for start, count in WINDOWS:
        fwd, rev = store.readings.boundary_registers([*METERS, "M-unknown"], start, count, as_of)
        assert fwd.dtype == rev.dtype == np.uint32
        found += [fwd.tolist(), rev.tolist()]
    readings = store.readings
    if isinstance(readings, ReadingDays):  # several days at once read as one after another
        for starts, count in DAY_SETS:
            ids = [*METERS, "M-unknown"]
            together = readings.boundary_registers_of_days(ids, starts, count, as_of)
            alone = [readings.boundary_registers(ids, start, count, as_of) for start in starts]
            assert [(f.tolist(), r.tolist()) for f, r in together] == [
                (f.tolist(), r.tolist()) for f, r in alone
            ]
    return found


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps)
def test_packing_or_settling_at_any_point_reads_as_if_nothing_was_packed(
    new_store: StoreFactory, steps: list[Step]
) -> None:
    store, twin = new_store(), MemoryStore()
    every_step = isinstance(store.readings, Settling)  # a wrong state a later step mends
    for step in steps:
        told = run(store, step)
        if isinstance(step, list):
            assert told == twin.readings.add_readings(step, U0)
        if every_step:
            assert readings_now(store) == readings_now(twin)
    assert read_all(store) == read_all(twin)
    assert readings_now(store) == readings_now(twin)
    settle(store, U0 + 4 * 86_400)
    assert read_all(store) == read_all(twin)
    assert readings_now(store) == readings_now(twin)
    conflicts = store.readings.conflicts_between(METERS, 0, 2**40)
    assert conflicts == twin.readings.conflicts_between(METERS, 0, 2**40)


def test_a_late_reading_in_a_packed_day_is_read(new_store: StoreFactory) -> None:
    store = new_store()
    day = [Reading("M1", U0 + 1800 * i, 10 * i, None) for i in range(48) if i != 7]
    store.readings.add_readings(day, U0)
    assert compact(store, U0 + 86_400) in (0, 1)  # a store that reads fast may do nothing
    assert compact(store, U0 + 86_400) == 0  # packed once only
    store.readings.add_readings(
        [Reading("M1", U0 + 1800 * 7, 70, 5), Reading("M2", U0, 1, None)], U0
    )
    store.readings.add_readings([Reading("M1", U0 + 1800 * 8, 80, 6)], U0)  # completes a stored one
    store.readings.add_readings(
        [Reading("M1", U0 + 1800 * 9, 999, None)], U0
    )  # a conflict: not read
    fwd, rev = store.readings.boundary_registers(["M1", "M2"], U0, 47)
    assert fwd[0].tolist() == [10 * i for i in range(48)]
    assert rev[0].tolist()[6:10] == [0xFFFFFFFF, 5, 6, 0xFFFFFFFF]
    assert fwd[1].tolist()[:2] == [1, 0xFFFFFFFF]


# Both registers, and one send time a meter: a reading is never completed nor replaced
# later (a reading sent earlier replaces the one stored in place, for every read).
whole_readings = readings_of(
    st.integers(0, 3), {"M1": st.just(T0), "M2": st.just(0), "M3": st.just(T0 + 60)}
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.lists(whole_readings, min_size=1, max_size=30),
            packing,
            settling,
        ),
        max_size=8,
    )
)
def test_a_read_as_of_a_watermark_sees_what_was_stored_then_whatever_came_later(
    new_store: StoreFactory, steps: list[Step]
) -> None:
    store = new_store()
    seen = []
    for step in steps:
        run(store, step)
        mark = store.watermark()
        seen.append((mark, read_all(store), store.readings.conflicts_between(METERS, 0, 2**40)))
    settle(store, U0 + 4 * 86_400)
    for mark, then, conflicts in seen:
        assert read_all(store, mark) == then
        assert store.readings.conflicts_between(METERS, 0, 2**40, mark) == conflicts


def test_meters_as_of_a_watermark_are_those_seen_by_then(new_store: StoreFactory) -> None:
    store = new_store()
    store.registry.add_customer(Customer("C1", "First"))
    store.registry.add_device(Device("U1", "C1"))
    store.registry.save_meters([Meter("M2", "U1", MeterSpec(1000, 1, 6))])
    mark = store.watermark()
    store.registry.save_meters([Meter("M1", "U1", MeterSpec(1000, 1, 6))])
    assert [m.id for m in store.registry.list_meters("C1", as_of=mark)] == ["M2"]
    assert [m.id for m in store.registry.list_meters("C1")] == ["M1", "M2"]
    assert store.watermark().meter > mark.meter
