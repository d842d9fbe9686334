"""A meter's time in service: from when it was fitted until it was taken out.

A unit reports one meter, usually; when it starts reporting a meter the store has never
seen, and no longer the one it had (whose last readings may come in the same message,
none later than the new meter's first), the meter was exchanged at the first reading of
the new one. Readings move the span, never the other way round: a meter that reports after
it was taken out was not (the unit has two meters), and one that reports before it was
fitted was fitted earlier. A removal set by an operator is the exception: it stands, and
later readings are kept outside the span. Outside its span a meter's slots are not
missing, nothing is estimated there, and a day wholly outside it has no row in the
customer's file.
"""

from __future__ import annotations

from collections.abc import Sequence

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
