"""The rules for a second reading with the same (meter, t): duplicate, completion or conflict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

from kenshin.domain.energy import MAX_REGISTER
from kenshin.domain.model import Conflict, Reading, StoreResult

_FWD, _REV = attrgetter("fwd"), attrgetter("rev")


def merge_reading(old: Reading, new: Reading) -> Reading | None:
    """``old`` completed with the registers only ``new`` has, or None if a register differs."""
    if _differs(old.fwd, new.fwd) or _differs(old.rev, new.rev):
        return None
    return Reading(
        old.meter,
        old.t,
        old.fwd if old.fwd is not None else new.fwd,
        old.rev if old.rev is not None else new.rev,
    )


def conflict_of(old: Reading, new: Reading, received_at: int) -> Conflict:
    """The conflict between a stored reading and a new one for the same (meter, t)."""
    return Conflict(old.meter, old.t, old.fwd, old.rev, new.fwd, new.rev, received_at)


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
    result, the readings it completed (by key, as they are now), the conflicts by key,
    and the times of every reading it stored, completed or conflicted with."""

    result: StoreResult
    completed: list[tuple[Key, Reading]]
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
    completed: set[Key] = set()
    new: set[int] = set()
    for key, reading in zip(keys, readings, strict=True):
        old = state.get(key)
        if old is None:  # the first of its key in the batch, and inserted already
            state[key] = reading
            new.add(key[1])
            stored += 1
            continue
        merged = merge_reading(old, reading)
        if merged is None:
            conflicts.append((key, conflict_of(old, reading, at)))
        elif merged == old:
            duplicates += 1
        else:
            state[key] = merged
            completed.add(key)
            stored += 1
    changed = {t for _, t in completed} | {t for (_, t), _c in conflicts} | new
    result = StoreResult(stored, duplicates, tuple(c for _, c in conflicts))
    return Settled(result, [(k, state[k]) for k in completed], conflicts, changed)
