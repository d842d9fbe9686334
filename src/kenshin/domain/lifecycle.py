"""A meter's time in service: from when it was fitted until it was taken out.

A unit reports one meter, usually; when it starts reporting a meter the store has never
seen, and no longer the one it had (whose last readings may come in the same message,
none later than the new meter's first), the meter was exchanged at the first reading of
the new one. Readings move the span, never the other way round: a meter that reports after
it was taken out was not (the unit has two meters), and one that reports before it was
fitted was fitted earlier. A removal set by an operator is the exception: it stands, and
later readings are kept outside the span. The order a unit's messages arrive in does not
change the outcome: an exchange the first messages could not show is found when the
readings that came late show it. Outside its span a meter's slots are not
missing, nothing is estimated there, and a day wholly outside it has no row in the
customer's file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kenshin.domain.slots import SLOT_SECONDS

Span = tuple[int | None, int | None]  # (installed_at, removed_at), UTC epoch s; None: unknown
_EARLIEST, _LATEST = -(2**62), 2**62  # an unknown fitting or removal: none


def slots_in_service(spans: Sequence[Span], start: int, count: int) -> npt.NDArray[np.bool_]:
    """Per span (row), which of ``count`` slots from ``start`` it covers: a slot counts
    from its start at the fitting, up to its end at the removal."""
    starts = start + SLOT_SECONDS * np.arange(count, dtype=np.int64)
    fitted = np.array([_EARLIEST if f is None else f for f, _ in spans], np.int64)
    removed = np.array([_LATEST if r is None else r for _, r in spans], np.int64)
    return np.asarray(
        (starts >= fitted[:, None]) & (starts + SLOT_SECONDS <= removed[:, None]), np.bool_
    ).reshape(len(spans), count)


def serves(span: Span, start: int, end: int) -> bool:
    """Whether ``span`` covers a whole slot between ``start`` and ``end`` (slots from
    ``start``): a meter that serves none of a day's slots has no row that day."""
    fitted, removed = span
    first = start
    if fitted is not None and fitted > first:
        first += -(-(fitted - first) // SLOT_SECONDS) * SLOT_SECONDS
    last = end if removed is None else min(end, removed)
    return first + SLOT_SECONDS <= last


def widened(span: Span, readings: tuple[int, int], *, removal_fixed: bool = False) -> Span:
    """``span`` widened to hold readings from ``readings[0]`` to ``readings[1]``; a
    ``removal_fixed`` (set by an operator) stays: later readings are outside the span."""
    fitted, removed = span
    first, last = readings
    if fitted is not None and first < fitted:
        fitted = first
    if removed is not None and last > removed and not removal_fixed:
        removed = None
    return fitted, removed


def exchanged_out(span: Span, at: int) -> Span:
    """The span of a meter taken out at ``at`` (an exchange): it ends there, unless the
    meter was taken out earlier already."""
    fitted, removed = span
    return fitted, at if removed is None else min(removed, at)


@dataclass(frozen=True, slots=True)
class Reported:
    """A meter's readings in one message: the first and the last (UTC epoch s)."""

    meter: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Exchange:
    """A unit's meter ``old`` exchanged for ``new`` at ``at`` (UTC epoch s); ``moved``:
    an exchange known later, moved earlier to the new meter's first reading (if the old
    meter was read after ``at`` after all, it was not taken out)."""

    old: str
    new: str
    at: int
    moved: bool = False


@dataclass(frozen=True)
class DeviceService:
    """What is known of a unit's meters as a message comes in: each one's span as the
    batch leaves it (``spans``), those the store did not know before the batch
    (``new``), those whose removal an operator set (``fixed``), and the batch's first
    reading of each new meter and last of each meter so far, this message included."""

    spans: Mapping[str, Span]
    new: frozenset[str] = frozenset()
    fixed: frozenset[str] = frozenset()
    first_seen: Mapping[str, int] = field(default_factory=dict)
    last_seen: Mapping[str, int] = field(default_factory=dict)


def spans_to_set(
    known: DeviceService, reported: Sequence[Reported], named: Sequence[str]
) -> tuple[dict[str, Span], list[Exchange]]:
    """The spans a message changes (``reported``: its meters with readings to look at;
    ``named``: every meter it names), and the exchanges it shows: a new meter
    whose unit had one other meter in service, not read after the new one's first
    reading in the batch (whether the store holds a later reading is for the caller to
    ask, before it sets ``exchange_spans``). A new meter is in service from its first
    reading; one fitted earlier than recorded takes the removal of the meter it replaced
    with it, and may show an exchange its unit's earlier messages could not (they came
    out of order)."""
    spans = dict(known.spans)
    changes: dict[str, Span] = {}
    moved: dict[str, int] = {}  # meters fitted earlier than thought: the fitting before
    retired: list[Exchange] = []  # exchanges moved earlier

    def put(meter: str, span: Span) -> None:
        spans[meter] = changes[meter] = span

    for seen in reported:
        span = spans.get(seen.meter, (None, None))
        if seen.meter in known.new and span[0] is None:
            span = (known.first_seen[seen.meter], span[1])
            put(seen.meter, span)
        fixed = seen.meter in known.fixed and span[1] is not None
        changed = widened(span, (seen.first, seen.last), removal_fixed=fixed)
        if changed != span:
            put(seen.meter, changed)
        if span[0] is not None and changed[0] is not None and changed[0] != span[0]:
            for other, (fitted, removed) in list(spans.items()):  # fitted earlier: the one before
                if removed == span[0] and other not in known.fixed:  # an operator's stands
                    at = changed[0]
                    read_after = known.last_seen.get(other, at) > at  # not taken out
                    put(other, (fitted, None if read_after else at))
                    if not read_after:
                        retired.append(Exchange(other, seen.meter, at, moved=True))
            moved.setdefault(seen.meter, span[0])
    fresh = [  # new, and first seen in this message: a meter the batch read earlier is not
        seen.meter
        for seen in reported
        if seen.meter in known.new and known.first_seen[seen.meter] >= seen.first
    ]
    found = [e for e in (_exchange(known, spans, fresh, named), *retired) if e is not None]
    for meter, was in moved.items():
        late = None if found else _fitted_earlier(known, spans, meter, was)
        found += [late] if late else []
    return changes, found


def _exchange(
    known: DeviceService, spans: Mapping[str, Span], fresh: list[str], named: Sequence[str]
) -> Exchange | None:
    """The exchange a message naming ``named`` shows, given the unit's ``spans`` and the
    new meters it reports (``fresh``)."""
    if len(fresh) != 1 or len(named) > 2:
        return None
    new = fresh[0]
    others = [m for m, (_, removed) in spans.items() if m != new and removed is None]
    at = known.first_seen[new]  # its earliest reading of the batch, in any message
    old = others[0] if len(others) == 1 else None
    if old is None or (len(set(named)) == 2 and old not in named):
        return None
    fitted = spans[old][0]
    if fitted is not None and fitted > at:  # the other came after: it replaced this one
        return None if known.last_seen.get(new, at) > fitted else Exchange(new, old, fitted)
    if known.last_seen.get(old, at) > at:
        return None  # both report at once: a unit of two meters
    return Exchange(old, new, at)


def _fitted_earlier(
    known: DeviceService, spans: Mapping[str, Span], meter: str, was: int
) -> Exchange | None:
    """The exchange ``meter`` shows, as the message leaves the unit's ``spans``, when its
    fitting moved earlier than ``was``: the unit's messages came out of order (an import
    in parts, a cluster's workers, a backlog sent late), and what was first seen of the
    exchange did not show it. With the unit's only other meter in service it is one if
    that meter was fitted at ``was`` or later (``meter`` is the old one, until then), or
    before ``meter`` is now (``meter`` is the new one); and if the old one was not read
    after the exchange in the batch (whether the store holds a later reading is for the
    caller to ask)."""
    now = spans[meter][0]
    others = [m for m, (_, removed) in spans.items() if m != meter and removed is None]
    if now is None or spans[meter][1] is not None or len(others) != 1:
        return None
    other = others[0]
    other_fitted = spans[other][0]
    if other_fitted is None:  # not known: nothing to compare
        return None
    if other_fitted >= was:
        old, new, at = meter, other, other_fitted
    elif other_fitted < now:
        old, new, at = other, meter, now
    else:
        return None
    return None if known.last_seen.get(old, at) > at else Exchange(old, new, at)


def exchange_spans(exchange: Exchange, spans: Mapping[str, Span]) -> dict[str, Span]:
    """The spans of the two meters of ``exchange``: the old one out, the new one in."""
    old, new = spans.get(exchange.old, (None, None)), spans.get(exchange.new, (None, None))
    return {
        exchange.old: exchanged_out(old, exchange.at),
        exchange.new: (exchange.at, new[1]),
    }
