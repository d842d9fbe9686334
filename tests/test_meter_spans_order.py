"""Meters' times in service do not depend on the order their unit's messages arrive in:
an import in parts, a cluster's workers and a unit's backlog all deliver out of order, and
an exchange must be found all the same."""

from __future__ import annotations

import random
from datetime import date
from functools import cache
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.lifecycle import Span
from kenshin.domain.model import Customer, Device
from kenshin.services.incoming import Incoming
from kenshin.services.ingest import Ingest
from kenshin.sim.faults import FAULTS
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.transmission import fleet_lines

DEVICES = 16


@cache
def fleet(seed: int) -> tuple[bytes, ...]:
    spec = FleetSpec(DEVICES, 2, date(2026, 11, 1), seed=seed, faults=frozenset(FAULTS))
    return tuple(line.encode() for line, _ in fleet_lines(spec))


def spans(lines: tuple[bytes, ...], order: list[int], batch: int) -> dict[str, Span]:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "one"))
    for n in range(DEVICES):
        store.registry.add_device(Device(f"U-{n + 1:06d}", "C-1"))
    ingest = Ingest(store)
    for start in range(0, len(order), batch):
        ingest.ingest(
            Incoming(f"f:{i}", lines[i], 1_800_000_000, live=False)
            for i in order[start : start + batch]
        )
    return {m.id: (m.installed_at, m.removed_at) for m in store.registry.list_meters()}


@given(
    st.integers(0, 3),
    st.randoms(use_true_random=False),
    st.sampled_from([1, 9, 60, 400]),
    st.sampled_from([1, 2, 3]),
)
@settings(max_examples=30, deadline=None)
def test_spans_are_the_same_whatever_the_order_of_arrival(
    seed: int, rnd: random.Random, batch: int, parts: int
) -> None:
    lines = fleet(seed)
    in_order = spans(lines, list(range(len(lines))), 200)
    assert any(removed is not None for _, removed in in_order.values())  # an exchange
    order = list(range(len(lines)))
    if parts == 1:
        rnd.shuffle(order)
    else:  # parts of the file, their batches interleaved as processes' are
        cuts = [len(order) * k // parts for k in range(parts + 1)]
        queues = [order[a:b] for a, b in pairwise(cuts)]
        order = []
        while any(queues):
            queue = rnd.choice([q for q in queues if q])
            order.extend(queue[:batch])
            del queue[:batch]
    assert spans(lines, order, batch) == in_order
