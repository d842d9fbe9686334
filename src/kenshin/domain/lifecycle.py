"""A meter's time in service: from when it was fitted until it was taken out.

A unit reports one meter, usually; when it starts reporting a meter the store has never
seen, and no longer the one it had (whose last readings may come in the same message,
none later than the new meter's first), the meter was exchanged at the first reading of
the new one. Readings move the span, never the other way round: a meter that reports after
it was taken out was not (the unit has two meters), and one that reports before it was
fitted was fitted earlier. Outside its span a meter's slots are not missing, nothing is
estimated there, and a day wholly outside it has no row in the customer's file.
"""

from __future__ import annotations

Span = tuple[int | None, int | None]  # (installed_at, removed_at), UTC epoch s; None: unknown


def widened(span: Span, readings: tuple[int, int]) -> Span:
    """``span`` widened to hold readings from ``readings[0]`` to ``readings[1]``."""
    fitted, removed = span
    first, last = readings
    if fitted is not None and first < fitted:
        fitted = first
    if removed is not None and last > removed:
        removed = None
    return fitted, removed


def exchanged_out(span: Span, at: int) -> Span:
    """The span of a meter taken out at ``at`` (an exchange): it ends there, unless the
    meter was taken out earlier already."""
    fitted, removed = span
    return fitted, at if removed is None else min(removed, at)
