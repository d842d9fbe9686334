"""Retention: customers' files whose day is older than the retention are removed."""

from __future__ import annotations

import logging

from kenshin.domain.changes import is_change_record
from kenshin.domain.file_names import oldest_kept_day
from kenshin.domain.manifest import MANIFEST_SUFFIX, manifest_day
from kenshin.domain.model import Customer
from kenshin.ports import Outbox

log = logging.getLogger(__name__)


def remove_expired(
    outbox: Outbox, customer: Customer, *, now: int, retention_days: int
) -> list[str]:
    """Remove files whose day is more than ``retention_days`` before the customer's today.

    The day is read from each file's manifest; a file without one is left alone.
    The file goes before its manifest, so an interrupted run finishes next time.
    """
    cutoff = oldest_kept_day(customer, now=now, retention_days=retention_days)
    names = outbox.list_files(customer.id)
    present = set(names)
    removed: list[str] = []
    for manifest in names:
        if not manifest.endswith(MANIFEST_SUFFIX):
            continue
        content = outbox.read(customer.id, manifest)
        day = manifest_day(content) if content is not None else None
        if day is None or day >= cutoff:
            continue
        data_file = manifest.removesuffix(MANIFEST_SUFFIX)
        for name in [data_file, *sorted(n for n in present if is_change_record(n, data_file))]:
            if name in present:
                outbox.remove(customer.id, name)
                removed.append(name)
        outbox.remove(customer.id, manifest)
        removed.append(manifest)
    if removed:
        log.info("removed %d expired files of %s", len(removed), customer.id)
    return removed
