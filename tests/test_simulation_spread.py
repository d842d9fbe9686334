"""Simulated units given a reporting offset send at it, not all at :00 and :30."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kenshin.domain.spread import report_offset_s
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.transmission import Message, fleet_arrivals, fleet_messages
from kenshin.sim.wakes import plan_wakes

START = date(2026, 11, 26)


def seconds_past_boundary(message: Message) -> int:
    """How long after its (latest) reading's boundary the unit sent the message."""
    sent = int(datetime.fromisoformat(message["sent"]).timestamp())
    t = max(
        int(datetime.fromisoformat(r["t"]).timestamp()) for r in message["meters"][0]["readings"]
    )
    return sent - t


def test_a_unit_given_an_offset_sends_each_half_hour_at_it() -> None:
    messages = list(fleet_messages(FleetSpec(20, 1, START, spread_s=1800)))
    assert len(messages) == 20 * 49
    for message in messages:
        offset = report_offset_s(message["device"])
        assert offset <= seconds_past_boundary(message) <= offset + 4
    assert len({seconds_past_boundary(m) // 60 for m in messages}) > 10  # not all at :00


def test_without_an_offset_every_unit_sends_just_after_the_boundary() -> None:
    messages = list(fleet_messages(FleetSpec(20, 1, START)))
    assert {2 <= seconds_past_boundary(m) <= 30 for m in messages} == {True}


def test_spread_arrivals_still_come_in_order() -> None:
    arrivals = [at for at, _ in fleet_arrivals(FleetSpec(30, 2, START, spread_s=600))]
    assert arrivals == sorted(arrivals)
    assert len(arrivals) == 30 * 97


def test_a_unit_wakes_at_its_offset_to_publish() -> None:
    messages = fleet_messages(FleetSpec(10, 1, START, spread_s=1800))
    wakes = list(plan_wakes(messages, 1800, report_offset_s))
    assert wakes
    assert {w.at % 1800 == report_offset_s(w.device) for w in wakes} == {True}


@pytest.mark.parametrize("spread", [-1, 1801])
def test_a_spread_beyond_the_half_hour_is_refused(spread: int) -> None:
    with pytest.raises(ValueError, match="spread window"):
        FleetSpec(1, 1, START, spread_s=spread)
