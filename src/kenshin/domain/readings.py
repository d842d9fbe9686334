"""The rules for a second reading with the same (meter, t): duplicate, completion or conflict."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter

from kenshin.domain.energy import MAX_REGISTER
from kenshin.domain.model import Conflict, Reading

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
