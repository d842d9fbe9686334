"""The rules for a second reading with the same (meter, t): duplicate, completion or
conflict.

Of two readings with different values for one register, the one the unit sent first is
kept, whichever came first: in a cluster, a message that waited at the broker for a
worker that died is stored after later ones. ``Reading.sent`` says when each was sent;
where either time is unknown (0: a reading stored before the store kept send times),
the one stored first is kept. Nothing of the other is taken (not even a register the
kept one lacks), and a duplicate sent earlier than the stored reading brings its send
time: so the outcome does not depend on the order in which readings arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

from kenshin.domain.energy import MAX_REGISTER
from kenshin.domain.model import Conflict, Reading, StoreResult

_FWD, _REV = attrgetter("fwd"), attrgetter("rev")


def sent_before(a: Reading, b: Reading) -> bool:
    """Whether ``a`` was sent before ``b``, both times known."""
    return 0 < a.sent < b.sent


def merge_reading(old: Reading, new: Reading) -> Reading | None:
    """``old`` completed with the registers only ``new`` has, or None if a register
    differs; sent when the earlier of the two was."""
    if _differs(old.fwd, new.fwd) or _differs(old.rev, new.rev):
        return None
    return _completed(old, new, new.sent if sent_before(new, old) else old.sent)


def conflict_of(old: Reading, new: Reading, received_at: int) -> Conflict:
    """The conflict between a reading kept and another for the same (meter, t)."""
    return Conflict(old.meter, old.t, old.fwd, old.rev, new.fwd, new.rev, received_at)


def settle_one(old: Reading, new: Reading, received_at: int) -> tuple[Reading, Conflict | None]:
    """What is kept of a stored reading ``old`` and a new one for its (meter, t), and the
    conflict between them if their values differ (the one sent first is kept)."""
    merged = merge_reading(old, new)
    if merged is not None:
        return merged, None
    if sent_before(new, old):
        return new, conflict_of(new, old, received_at)
    return old, conflict_of(old, new, received_at)


def _completed(kept: Reading, other: Reading, sent: int) -> Reading:
    """``kept`` with the registers only ``other`` has, sent at ``sent``."""
    return Reading(
        kept.meter,
        kept.t,
        kept.fwd if kept.fwd is not None else other.fwd,
        kept.rev if kept.rev is not None else other.rev,
        sent,
    )


def _differs(old: int | None, new: int | None) -> bool:
    return old is not None and new is not None and old != new


def check_registers(readings: Sequence[Reading]) -> None:
    """Raise ValueError naming the first reading whose register is outside 0..MAX_REGISTER."""
    values = [v for v in chain(map(_FWD, readings), map(_REV, readings)) if v is not None]
    if not values or 0 <= min(values) <= max(values) <= MAX_REGISTER:
        return  # the usual case, checked at once; the loop below names the culprit
    for r in readings:
        for value in (r.fwd, r.rev):
            if value is not None and not 0 <= value <= MAX_REGISTER:
                raise ValueError(
                    f"reading of {r.meter} at {r.t}: register {value} is outside 0..{MAX_REGISTER}"
                )


Key = tuple[int, int]  # a stored reading's (meter key, t), as a store keys it


@dataclass(frozen=True)
class Settled:
    """What a batch does to the readings it found stored: the counts and conflicts of its
    result, the readings to write again (by key, as they are now: completed, replaced by
    one sent earlier, or only sent earlier), the conflicts by key, and the times of every
    reading it stored, completed or conflicted with."""

    result: StoreResult
    updated: list[tuple[Key, Reading]]
    conflicts: list[tuple[Key, Conflict]]
    changed: set[int]


def settle(
    readings: Sequence[Reading], keys: Sequence[Key], state: dict[Key, Reading], at: int
) -> Settled:
    """Apply a batch in order to what was stored (``state``, by key; a key missing there
    was new, and its first reading was inserted already), as if the readings came one by
    one: duplicates, completions and conflicts received ``at``. ``state`` is updated."""
    stored = duplicates = 0
    conflicts: list[tuple[Key, Conflict]] = []
    updated: set[Key] = set()
    changed: set[int] = set()
    for key, reading in zip(keys, readings, strict=True):
        old = state.get(key)
        if old is None:  # the first of its key in the batch, and inserted already
            state[key] = reading
            changed.add(key[1])
            stored += 1
            continue
        kept, conflict = settle_one(old, reading, at)
        if conflict is not None:
            conflicts.append((key, conflict))
            changed.add(key[1])
        elif kept == old:
            duplicates += 1
        else:
            stored += 1
            changed.add(key[1])
        if kept != old or kept.sent != old.sent:
            state[key] = kept
            updated.add(key)
    result = StoreResult(stored, duplicates, tuple(c for _, c in conflicts))
    return Settled(result, [(k, state[k]) for k in updated], conflicts, changed)
