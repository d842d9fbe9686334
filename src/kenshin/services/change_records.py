"""Change records: what a new revision of a day file changes in the one before, read
from the file as the customer got it; and a record published again where it is gone
from the outbox (lost with a disk, or the outbox made anew), from the revision before
made again from the store as of its watermark, as ``kenshin replay`` makes files."""

from __future__ import annotations

import logging

from kenshin.domain.changes import (
    ChangeRecord,
    change_record_name,
    change_record_text,
    compare_files,
    slot_starts,
)
from kenshin.domain.file_names import customer_zone
from kenshin.domain.model import Customer, FileRevision
from kenshin.domain.revisions import reported_slots
from kenshin.domain.slots import DaySlots
from kenshin.ports import Outbox
from kenshin.services.replay import ReplayError, ReplayPorts, replay

log = logging.getLogger(__name__)

# The change records this process found it cannot make again (customer, file, revision):
# tried once, not at every export run.
_UNMADE: set[tuple[str, str, int]] = set()


def previous_text(outbox: Outbox, customer: Customer, latest: FileRevision | None) -> str | None:
    """The text of the newest revision's file, if there is one and it is still there."""
    if latest is None:
        return None
    before = outbox.read(customer.id, latest.file_name)
    if before is None:
        log.warning(
            "%s/%s: revision %d is gone from the outbox; the next one has no change record",
            customer.id,
            latest.file_name,
            latest.revision,
        )
        return None
    return before.decode(customer.encoding)


def changes_between(
    customer: Customer, slots: DaySlots, before: FileRevision, text: str, content: bytes
) -> ChangeRecord:
    """What ``content`` (a new revision's file) changes in ``text``, ``before``'s."""
    return compare_files(
        customer.layout,
        text,
        content.decode(customer.encoding),
        starts=slot_starts(slots, customer_zone(customer)),
        reported=reported_slots(before, slots),
        flags=customer.flags,
    )


def publish_change_record_again(
    store: ReplayPorts,
    outbox: Outbox,
    customer: Customer,
    slots: DaySlots,
    revision: FileRevision,
    content: bytes,
) -> bool:
    """Publish ``revision``'s change record again (``content``: the revision's file);
    False, saying why in the log, where the revision before cannot be made again byte
    for byte (the manifest then names a record that is not there)."""
    key = (customer.id, revision.file_name, revision.revision)
    if key in _UNMADE:
        return False
    _UNMADE.add(key)  # until it is made
    earlier = store.revisions.list_revisions(customer.id, revision.day)
    before = next((r for r in earlier if r.revision == revision.revision - 1), None)
    name = change_record_name(revision.file_name, revision.revision)
    try:
        made = replay(store, before) if before is not None else None
    except ReplayError as exc:
        log.warning("%s/%s is gone and cannot be made again: %s", customer.id, name, exc)
        return False
    if made is None or not made.identical:
        log.warning("%s/%s is gone: the revision before cannot be made again", customer.id, name)
        return False
    text = made.content.decode(customer.encoding)
    changes = changes_between(customer, slots, made.revision, text, content)
    starts = slot_starts(slots, customer_zone(customer))
    outbox.publish(customer.id, name, change_record_text(changes, starts).encode())
    _UNMADE.discard(key)
    log.info("%s/%s published again", customer.id, name)
    return True


def could_make_again(customer: Customer, revision: FileRevision) -> bool:
    """Whether ``revision``'s change record is still to be tried in this process."""
    return (customer.id, revision.file_name, revision.revision) not in _UNMADE
