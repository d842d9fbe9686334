"""The meter-exchange rule on what is known of a unit's meters: no store, no ingest."""

from __future__ import annotations

from kenshin.domain.lifecycle import (
    DeviceService,
    Exchange,
    Reported,
    exchange_spans,
    spans_to_set,
)

T = 1_795_000_000


def test_a_new_meter_replacing_the_only_one_is_an_exchange_at_its_first_reading() -> None:
    known = DeviceService(
        {"OLD": (T - 86_400, None), "NEW": (None, None)},
        new=frozenset({"NEW"}),
        first_seen={"NEW": T},
        last_seen={"OLD": T - 1800, "NEW": T + 1800},
    )
    changes, exchanges = spans_to_set(known, [Reported("NEW", T, T + 1800)], ["OLD", "NEW"])
    assert changes == {"NEW": (T, None)}  # in service from its first reading
    assert exchanges == [Exchange("OLD", "NEW", T)]
    assert exchange_spans(exchanges[0], {**known.spans, **changes}) == {
        "OLD": (T - 86_400, T),
        "NEW": (T, None),
    }


def test_two_meters_reporting_at_once_are_a_unit_of_two() -> None:
    known = DeviceService(
        {"A": (None, None), "B": (None, None)},
        new=frozenset({"B"}),
        first_seen={"B": T},
        last_seen={"A": T + 1800, "B": T + 1800},
    )
    _, exchanges = spans_to_set(known, [Reported("B", T, T + 1800)], ["A", "B"])
    assert exchanges == []


def test_no_exchange_with_two_meters_in_service_or_two_new_ones() -> None:
    two_old = DeviceService(
        {"A": (None, None), "B": (None, None), "N": (None, None)},
        new=frozenset({"N"}),
        first_seen={"N": T},
    )
    assert spans_to_set(two_old, [Reported("N", T, T)], ["N"])[1] == []
    two_new = DeviceService(
        {"A": (None, None), "N": (None, None), "M": (None, None)},
        new=frozenset({"N", "M"}),
        first_seen={"N": T, "M": T},
    )
    reported = [Reported("N", T, T), Reported("M", T, T)]
    assert spans_to_set(two_new, reported, ["N", "M"])[1] == []


def test_readings_after_a_removal_bring_the_meter_back_unless_an_operator_set_it() -> None:
    spans = {"A": (T - 86_400, T)}
    seen = [Reported("A", T + 1800, T + 3600)]
    assert spans_to_set(DeviceService(spans), seen, ["A"])[0] == {"A": (T - 86_400, None)}
    fixed = DeviceService(spans, fixed=frozenset({"A"}))
    assert spans_to_set(fixed, seen, ["A"]) == ({}, [])


def test_a_meter_fitted_earlier_moves_the_removal_of_the_one_it_replaced() -> None:
    known = DeviceService({"OLD": (T - 86_400, T), "NEW": (T, None)})
    changes, exchanges = spans_to_set(known, [Reported("NEW", T - 3600, T)], ["NEW"])
    assert changes == {"NEW": (T - 3600, None), "OLD": (T - 86_400, T - 3600)}
    assert exchanges == [Exchange("OLD", "NEW", T - 3600, moved=True)]  # the store is asked
    # The old meter read after the new fitting in the batch: not taken out after all.
    read = DeviceService(known.spans, last_seen={"OLD": T - 1800})
    changes, exchanges = spans_to_set(read, [Reported("NEW", T - 3600, T)], ["NEW"])
    assert changes == {"NEW": (T - 3600, None), "OLD": (T - 86_400, None)}
    assert exchanges == []


def test_a_meter_read_earlier_in_the_batch_is_not_new_in_the_exchange_message() -> None:
    # The old meter first read at T - 3600 in the batch, then both at the exchange (T).
    known = DeviceService(
        {"OLD": (T - 3600, None), "NEW": (None, None)},
        new=frozenset({"OLD", "NEW"}),
        first_seen={"OLD": T - 3600, "NEW": T},
        last_seen={"OLD": T, "NEW": T},
    )
    seen = [Reported("OLD", T, T), Reported("NEW", T, T)]
    changes, exchanges = spans_to_set(known, seen, ["OLD", "NEW"])
    assert changes == {"NEW": (T, None)}
    assert exchanges == [Exchange("OLD", "NEW", T)]


def test_an_exchange_message_seen_first_is_an_exchange_once_the_old_meter_proves_older() -> None:
    # Both first seen in the exchange's message at T: a unit of two, until the old one's
    # earlier readings come.
    known = DeviceService({"OLD": (T, None), "NEW": (T, None)}, last_seen={"OLD": T - 1800})
    changes, exchanges = spans_to_set(known, [Reported("OLD", T - 3600, T - 1800)], ["OLD"])
    assert changes == {"OLD": (T - 3600, None)}
    assert exchanges == [Exchange("OLD", "NEW", T)]
    # Read after T in the batch: two meters after all.
    later = DeviceService(known.spans, last_seen={"OLD": T + 1800})
    assert spans_to_set(later, [Reported("OLD", T - 3600, T + 1800)], ["OLD"])[1] == []


def test_a_new_meter_seen_late_first_is_an_exchange_once_its_first_reading_comes() -> None:
    # The new meter first seen at T + 7200, the old one in service: its first reading at
    # the exchange (T) comes later.
    known = DeviceService({"OLD": (T - 86_400, None), "NEW": (T + 7200, None)})
    changes, exchanges = spans_to_set(known, [Reported("NEW", T, T)], ["OLD", "NEW"])
    assert changes == {"NEW": (T, None)}
    assert exchanges == [Exchange("OLD", "NEW", T)]
    # The other one fitted later than the new fitting: not the meter it replaced.
    after = DeviceService({"A": (T + 3600, None), "B": (T + 7200, None)})
    assert spans_to_set(after, [Reported("B", T, T)], ["B"])[1] == []


def test_a_removal_an_operator_set_is_not_moved_by_a_fitting_found_earlier() -> None:
    known = DeviceService({"OLD": (T - 86_400, T), "NEW": (T, None)}, fixed=frozenset({"OLD"}))
    assert spans_to_set(known, [Reported("NEW", T - 3600, T)], ["NEW"]) == (
        {"NEW": (T - 3600, None)},
        [],
    )


def test_a_new_meter_read_before_the_others_fitting_is_the_one_it_replaced() -> None:
    # NEW (in service from T + 3600) came first; OLD, new to the store, was read before.
    known = DeviceService(
        {"NEW": (T + 3600, None), "OLD": (None, None)},
        new=frozenset({"OLD"}),
        first_seen={"OLD": T - 1800},
        last_seen={"OLD": T},
    )
    changes, exchanges = spans_to_set(known, [Reported("OLD", T - 1800, T)], ["OLD"])
    assert changes == {"OLD": (T - 1800, None)}
    assert exchanges == [Exchange("OLD", "NEW", T + 3600)]
    # Read after the other's fitting: two meters.
    later = DeviceService(
        known.spans, known.new, first_seen=known.first_seen, last_seen={"OLD": T + 7200}
    )
    assert spans_to_set(later, [Reported("OLD", T - 1800, T + 7200)], ["OLD"])[1] == []
