"""Of two conflicting readings, every store keeps the one its unit sent first, whichever
arrived first: in a cluster a message can wait at the broker for a worker that died while
later ones are stored."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kenshin.domain.model import Conflict, Reading, StoreResult
from kenshin.ports import Store

from .conftest import StoreFactory

T0 = 1_795_964_400  # 2026-11-30 00:00 in Asia/Tokyo


def kept(store: Store, meter: str = "M1", t: int = T0) -> tuple[int | None, int | None]:
    """The registers the store holds for (meter, t)."""
    [(_, [reading])] = store.readings.readings_between([meter], t, t)
    return reading.fwd, reading.rev


def test_a_reading_sent_earlier_replaces_one_sent_later_which_is_kept_aside(
    store: Store,
) -> None:
    store.readings.add_readings([Reading("M1", T0, 107, 2, sent=T0 + 3605)], received_at=T0 + 10)
    before = store.readings.last_batch()
    result = store.readings.add_readings(
        [Reading("M1", T0, 100, 2, sent=T0 + 5)], received_at=T0 + 3700
    )
    assert result == StoreResult(conflicts=(Conflict("M1", T0, 100, 2, 107, 2, T0 + 3700),))
    assert kept(store) == (100, 2)
    assert store.readings.list_conflicts() == [Conflict("M1", T0, 100, 2, 107, 2, T0 + 3700)]
    assert store.readings.conflicts_between(["M1"], T0, T0) == [("M1", T0)]
    # The day changed: a file made of it before is made again.
    assert store.readings.newest_batch(T0, T0) > before


def test_a_reading_sent_later_is_kept_aside_as_before(store: Store) -> None:
    store.readings.add_readings([Reading("M1", T0, 100, None, sent=T0 + 5)], received_at=T0 + 10)
    result = store.readings.add_readings(
        [Reading("M1", T0, 107, 3, sent=T0 + 3605)], received_at=T0 + 3700
    )
    assert result.conflicts == (Conflict("M1", T0, 100, None, 107, 3, T0 + 3700),)
    assert kept(store) == (100, None)  # nothing taken from the other, not even its rev


def test_where_either_send_time_is_unknown_the_first_stored_is_kept(store: Store) -> None:
    store.readings.add_readings([Reading("M1", T0, 100, None)], received_at=T0)
    store.readings.add_readings([Reading("M1", T0, 101, None, sent=T0 - 60)], received_at=T0 + 1)
    store.readings.add_readings([Reading("M2", T0, 200, None, sent=T0 + 60)], received_at=T0)
    store.readings.add_readings([Reading("M2", T0, 201, None)], received_at=T0 + 1)
    assert kept(store, "M1") == (100, None)
    assert kept(store, "M2") == (200, None)


def test_a_duplicate_sent_earlier_brings_its_send_time(store: Store) -> None:
    # 100 was sent at +5 (the duplicate), so 107 sent at +30 must not replace it.
    store.readings.add_readings([Reading("M1", T0, 100, None, sent=T0 + 60)], received_at=T0)
    result = store.readings.add_readings(
        [Reading("M1", T0, 100, None, sent=T0 + 5)], received_at=T0 + 1
    )
    assert result == StoreResult(duplicates=1)
    store.readings.add_readings([Reading("M1", T0, 107, None, sent=T0 + 30)], received_at=T0 + 2)
    assert kept(store) == (100, None)


def test_in_one_batch_the_reading_sent_first_is_kept(store: Store) -> None:
    result = store.readings.add_readings(
        [Reading("M1", T0, 107, None, sent=T0 + 3605), Reading("M1", T0, 100, None, sent=T0 + 5)],
        received_at=T0 + 3700,
    )
    assert result.stored == 1
    assert result.conflicts == (Conflict("M1", T0, 100, None, 107, None, T0 + 3700),)
    assert kept(store) == (100, None)


KEYS = [("M1", T0), ("M1", T0 + 1800), ("M2", T0)]
copies = st.lists(
    st.tuples(st.sampled_from(range(len(KEYS))), st.integers(0, 2), st.integers(0, 2)),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offered=copies, data=st.data())
def test_whatever_the_order_and_batches_the_value_sent_first_is_kept(
    new_store: StoreFactory, offered: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    # Each copy: a key, a forward register and a reverse one; each sent at a time of its own.
    sends = data.draw(st.permutations(range(1, len(offered) + 1)))
    readings = [
        Reading(*KEYS[key], fwd, rev, sent=T0 + 60 * send)
        for (key, fwd, rev), send in zip(offered, sends, strict=True)
    ]
    arrival = data.draw(st.permutations(readings))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(arrival)), max_size=3)) | {len(arrival)})
    store = new_store()
    start = 0
    for n, cut in enumerate(cuts):
        store.readings.add_readings(arrival[start:cut], received_at=T0 + 10_000 + n)
        start = cut
    for key in {KEYS[k] for k, _, _ in offered}:
        first = min((r for r in readings if (r.meter, r.t) == key), key=lambda r: r.sent)
        assert kept(store, *key) == (first.fwd, first.rev)
    store.close()
