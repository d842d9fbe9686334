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
    changes, exchange = spans_to_set(known, [Reported("NEW", T, T + 1800)], ["OLD", "NEW"])
    assert changes == {"NEW": (T, None)}  # in service from its first reading
    assert exchange == Exchange("OLD", "NEW", T)
    assert exchange_spans(exchange, {**known.spans, **changes}) == {
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
    _, exchange = spans_to_set(known, [Reported("B", T, T + 1800)], ["A", "B"])
    assert exchange is None


def test_no_exchange_with_two_meters_in_service_or_two_new_ones() -> None:
    two_old = DeviceService(
        {"A": (None, None), "B": (None, None), "N": (None, None)},
        new=frozenset({"N"}),
        first_seen={"N": T},
    )
    assert spans_to_set(two_old, [Reported("N", T, T)], ["N"])[1] is None
    two_new = DeviceService(
        {"A": (None, None), "N": (None, None), "M": (None, None)},
        new=frozenset({"N", "M"}),
        first_seen={"N": T, "M": T},
    )
    reported = [Reported("N", T, T), Reported("M", T, T)]
    assert spans_to_set(two_new, reported, ["N", "M"])[1] is None


def test_readings_after_a_removal_bring_the_meter_back_unless_an_operator_set_it() -> None:
    spans = {"A": (T - 86_400, T)}
    seen = [Reported("A", T + 1800, T + 3600)]
    assert spans_to_set(DeviceService(spans), seen, ["A"])[0] == {"A": (T - 86_400, None)}
    fixed = DeviceService(spans, fixed=frozenset({"A"}))
    assert spans_to_set(fixed, seen, ["A"]) == ({}, None)


def test_a_meter_fitted_earlier_moves_the_removal_of_the_one_it_replaced() -> None:
    known = DeviceService({"OLD": (T - 86_400, T), "NEW": (T, None)})
    changes, exchange = spans_to_set(known, [Reported("NEW", T - 3600, T)], ["NEW"])
    assert changes == {"NEW": (T - 3600, None), "OLD": (T - 86_400, T - 3600)}
    assert exchange is None
