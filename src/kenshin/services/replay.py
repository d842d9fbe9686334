"""Replay: make a published revision of a day file again from the stored raw readings,
as of the batch it was made from, with the settings it was made with, and check it
byte for byte against the SHA-256 recorded when it was published.

A file that replays identically is exactly what its readings and settings give; one
that does not points at a change no revision records (readings rewritten in the
store, a bug in an older kenshin). A revision made under an older version of the
rules (``made_with.RULES_VERSION``) is made again with today's rules: where its bytes
differ, replay says which rules changed since, not that it differs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from kenshin.domain.csvfiles import file_slots, render_day
from kenshin.domain.made_with import RULES_CHANGES, RULES_VERSION, made_with_from_json
from kenshin.domain.model import FileRevision
from kenshin.errors import KenshinError
from kenshin.ports import Revisions
from kenshin.services.aggregate import DayPorts, aggregate_day


class ReplayError(KenshinError):
    """A revision that cannot be replayed; the text says why."""


@dataclass(frozen=True)
class Replayed:
    """A revision made again: its bytes and whether they are the ones published."""

    revision: FileRevision
    content: bytes
    rules: int = RULES_VERSION  # the rules version the revision was made under

    @property
    def sha256(self) -> str:
        """SHA-256 of the bytes made again."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def identical(self) -> bool:
        """Whether they are byte for byte the revision that was published."""
        return self.sha256 == self.revision.sha256

    @property
    def older_rules(self) -> str | None:
        """If the revision was made under older rules and its bytes are not made again,
        what changed in the rules since; else None."""
        if self.identical or self.rules >= RULES_VERSION:
            return None
        changed = (RULES_CHANGES[v] for v in range(self.rules + 1, RULES_VERSION + 1))
        return "; ".join(changed)


class ReplayPorts(DayPorts, Protocol):
    """What a replay reads: the day's revisions, and the day as of one. A ``Store`` is one."""

    @property
    def revisions(self) -> Revisions:
        """The published revisions of customers' day files."""


def revisions_of(
    store: ReplayPorts,
    customer_id: str,
    day: date,
    number: int | None = None,
    *,
    every: bool = False,
) -> list[FileRevision]:
    """Every revision of the customer's day file, or revision ``number``, or the newest."""
    revisions = store.revisions.list_revisions(customer_id, day.isoformat())
    if not revisions:
        raise ReplayError(f"customer {customer_id!r} has no file of {day}")
    if every:
        return revisions
    if number is None:
        return revisions[-1:]
    for revision in revisions:
        if revision.revision == number:
            return [revision]
    raise ReplayError(
        f"{revisions[0].file_name} has revisions 1 to {revisions[-1].revision}, not {number}"
    )


def replay(store: ReplayPorts, revision: FileRevision) -> Replayed:
    """Make ``revision`` again from the store as of its watermark."""
    if revision.as_of is None:
        raise ReplayError(
            f"revision {revision.revision} of {revision.file_name} was made before kenshin kept"
            " what a file is made from: it cannot be replayed"
        )
    try:
        made = made_with_from_json(revision.made_with)
    except ValueError as exc:
        raise ReplayError(f"revision {revision.revision} of {revision.file_name}: {exc}") from exc
    slots = file_slots(made.customer, date.fromisoformat(revision.day), made.cut)
    days = aggregate_day(
        store,
        made.customer,
        slots,
        made.max_demand_w,
        made.vee,
        now=revision.created_at,
        as_of=revision.as_of,
        drift=made.drift,
        meters=made.meters(store.registry.list_meters(made.customer.id, as_of=revision.as_of)),
    )
    rendered = render_day(made.customer, slots, days, created_at=revision.created_at)
    return Replayed(revision, rendered.content, made.rules)
