"""Export: build a customer's day file from the store and publish it, with its manifest.

Every meter of the customer gets its rows, even a meter that sent nothing that
day: a silent meter shows as slots flagged ``N``, so the customer sees the gap.
Which revision a build makes, and whether it is final, is ``domain.revisions``'s to
say; this module loads what it needs, builds the file and stores the outcome. The
file is published before its manifest and the revision is recorded last, so a run
killed at any point is simply redone.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from kenshin import __version__
from kenshin.domain.changes import (
    ChangeRecord,
    change_record_name,
    change_record_text,
    slot_starts,
)
from kenshin.domain.csvfiles import DayFile, file_slots, render_day
from kenshin.domain.daytable import DayTable
from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W
from kenshin.domain.file_names import check_file_pattern, customer_zone, file_name, oldest_kept_day
from kenshin.domain.made_with import MadeWith, demand_of, made_with_json, service_of
from kenshin.domain.manifest import manifest_bytes, manifest_name
from kenshin.domain.model import Customer, FileRevision, Watermark
from kenshin.domain.revisions import (
    FINAL,
    PROVISIONAL,
    NewRevision,
    Unchanged,
    cut_of_day,
    manifest_of,
    next_revision,
    restated,
    settings_of_day,
    status_at,
)
from kenshin.domain.slots import DaySlots, local_day
from kenshin.domain.vee import VeeSettings
from kenshin.errors import ExportError
from kenshin.ports import Outbox, Readings, Registry, Revisions, UnitClocks
from kenshin.services.aggregate import aggregate_day, drift_spells
from kenshin.services.change_records import (
    changes_between,
    could_make_again,
    previous_text,
    publish_change_record_again,
)
from kenshin.services.retention import remove_expired

__all__ = [
    "FINAL",
    "PROVISIONAL",
    "ExportOutcome",
    "ExportPorts",
    "ExportSettings",
    "check_file_pattern",
    "days_to_export",
    "export_day",
    "file_name",
    "oldest_kept_day",
    "remove_expired",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSettings:
    """How files are exported: grace before a day is final, retention (of files, and of
    readings where the store drops them), defaults, and the VEE settings (None: no VEE,
    slots are A or N), with customers' own over them."""

    grace_hours: int = 6
    retention_days: int = 45
    readings_retention_days: int = 0  # readings dropped this old where the store can; 0: never
    max_demand_w: int = DEFAULT_MAX_DEMAND_W
    generator: str = f"kenshin {__version__}"
    vee: VeeSettings | None = field(default_factory=VeeSettings)
    vee_customers: Mapping[str, VeeSettings] = field(default_factory=dict)

    def vee_for(self, customer: str) -> VeeSettings | None:
        """The VEE settings of ``customer``, or None where VEE is off."""
        return None if self.vee is None else self.vee_customers.get(customer, self.vee)


@dataclass(frozen=True)
class ExportOutcome:
    """What one export of a customer's day did; ``changed`` is False when nothing was written."""

    customer: str
    day: date
    file_name: str
    revision: int
    status: str
    changed: bool
    rows: int
    actual_slots: int
    slots: int
    estimated_slots: int = 0


_DEFAULT_SETTINGS = ExportSettings()


class ExportPorts(Protocol):
    """What an export reads and records: the registry, readings and unit clocks as of a
    watermark, and the day's revisions. A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def readings(self) -> Readings:
        """Register readings and their conflicts."""

    @property
    def revisions(self) -> Revisions:
        """The published revisions of customers' day files."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """The units' clock drift spells."""

    def watermark(self) -> Watermark:
        """How far the store has come, for reads as of it."""


@dataclass(frozen=True)
class _Build:
    """One customer's day as built from the store, and what it was made with."""

    customer: Customer
    slots: DaySlots
    days: DayTable
    rendered: DayFile
    mark: Watermark
    made_with: str
    settings: ExportSettings


def export_day(
    store: ExportPorts,
    outbox: Outbox,
    customer: Customer,
    day: date,
    *,
    now: int,
    settings: ExportSettings = _DEFAULT_SETTINGS,
) -> ExportOutcome:
    """Build the customer's file of local ``day`` and publish it if it is new or changed,
    as the one export of the customer's files under way (another waits its turn).

    A day older than the retention is refused: its file would only be removed again.
    """
    _check_kept(customer, day, now=now, retention_days=settings.retention_days)
    with store.revisions.exporting(customer.id):
        latest = store.revisions.latest_revision(customer.id, day.isoformat())
        customer = settings_of_day(customer, latest)
        customer_zone(customer)  # an unknown zone is an ExportError naming the customer
        cut = cut_of_day(customer, latest)
        name = file_name(customer, day)
        build = _build(store, customer, file_slots(customer, day, cut), cut, settings, now)
        status = status_at(now, build.slots.end, settings.grace_hours)
        decision = next_revision(latest, build.rendered.content_key, name, status)
        if isinstance(decision, Unchanged):
            return _keep(store, outbox, build, decision)
        previous = previous_text(outbox, customer, latest)  # read before the new file replaces it
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenshin-publish") as pool:
            # The file is written (and synced) while its changes are worked out; the change
            # record and the manifest still come after it.
            published = pool.submit(outbox.publish, customer.id, name, build.rendered.content)
            changes = _changes(build, latest, previous)
            revision = _revision(build, day, name, decision, changes, now)
            published.result()
        if changes and changes.changes:
            text = change_record_text(changes, slot_starts(build.slots, customer_zone(customer)))
            outbox.publish(customer.id, change_record_name(name, decision.number), text.encode())
        _publish_manifest(store.revisions, outbox, customer, revision, settings)
        store.revisions.add_revision(revision)
        log.info(
            "published %s/%s revision %d (%s)", customer.id, name, decision.number, decision.status
        )
        return _outcome(revision, changed=True)


def _check_kept(customer: Customer, day: date, *, now: int, retention_days: int) -> None:
    """Refuse a day whose file would not be kept (older than the retention), and a day
    after today in the customer's zone: its file would hold no readings, only gaps."""
    oldest = oldest_kept_day(customer, now=now, retention_days=retention_days)
    today = oldest + timedelta(days=retention_days)
    if day > today:
        raise ExportError(
            f"{day} is after today ({today} in {customer.timezone}, the time zone of"
            f" customer {customer.id!r}): a day's file is made from the day on; give a"
            " day up to today"
        )
    if day < oldest:
        raise ExportError(
            f"{day} is older than the {retention_days}-day retention of files "
            f"(the oldest day kept is {oldest}): its file would be removed at once"
        )


def _build(
    store: ExportPorts,
    customer: Customer,
    slots: DaySlots,
    cut: str,
    settings: ExportSettings,
    now: int,
) -> _Build:
    """The customer's day read as of one watermark, with the drift spells of now: kept
    with the revision, they make it again byte for byte (kenshin replay)."""
    with _collector_paused():
        vee = settings.vee_for(customer.id)
        mark = store.watermark()
        devices = [d.id for d in store.registry.list_devices(customer.id)]
        drift = tuple(drift_spells(store.unit_clocks, slots, vee, devices))
        meters = store.registry.list_meters(customer.id, as_of=mark)
        days = aggregate_day(
            store,
            customer,
            slots,
            settings.max_demand_w,
            vee,
            now=now,
            as_of=mark,
            drift=drift,
            meters=meters,
        )
        rendered = render_day(customer, slots, days, created_at=now)
    made = MadeWith(
        customer, vee, settings.max_demand_w, drift, service_of(meters), demand_of(meters), cut
    )
    return _Build(customer, slots, days, rendered, mark, made_with_json(made), settings)


def _revision(
    build: _Build,
    day: date,
    name: str,
    decision: NewRevision,
    changes: ChangeRecord | None,
    now: int,
) -> FileRevision:
    rendered = build.rendered
    return FileRevision(
        customer=build.customer.id,
        day=day.isoformat(),
        revision=decision.number,
        status=decision.status,
        file_name=name,
        sha256=rendered.sha256,
        content_key=rendered.content_key,
        rows=rendered.rows,
        slots=rendered.slots,
        actual_slots=rendered.actual_slots,
        created_at=now,
        estimated_slots=rendered.estimated_slots,
        changed_slots=changes.count if changes else 0,
        as_of_batch=build.mark.batch,
        as_of_meter=build.mark.meter,
        made_with=build.made_with,
    )


def days_to_export(
    store: ExportPorts,
    customer: Customer,
    *,
    now: int,
    lookback_days: int = 3,
) -> list[date]:
    """Local days of the customer to export at ``now``: today, and recent days not yet final.

    A recent day without any revision counts as not final (the server may have been
    down when it ended), so a new customer gets files for up to ``lookback_days``
    earlier days, showing their gaps.
    """
    today = local_day(now, customer_zone(customer))
    days = [today - timedelta(days=back) for back in range(lookback_days, 0, -1)]
    pending = [
        day
        for day in days
        if (latest := store.revisions.latest_revision(customer.id, day.isoformat())) is None
        or latest.status != FINAL
    ]
    return [*pending, today]


def _keep(store: ExportPorts, outbox: Outbox, build: _Build, decision: Unchanged) -> ExportOutcome:
    """Same content as the newest revision: finalise it, or republish what went missing."""
    customer, revision, revisions = build.customer, decision.revision, store.revisions
    published = set(outbox.list_files(customer.id))
    file_missing = revision.file_name not in published
    record = change_record_name(revision.file_name, revision.revision)
    record_missing = (
        revision.changed_slots > 0
        and record not in published
        and could_make_again(customer, revision)
    )
    if file_missing or record_missing:  # at the revision's own time: NEM12 byte for byte
        again = render_day(customer, build.slots, build.days, created_at=revision.created_at)
        if file_missing:
            outbox.publish(customer.id, revision.file_name, again.content)
        if record_missing:
            publish_change_record_again(
                store, outbox, customer, build.slots, revision, again.content
            )
    changed = file_missing or decision.finalised
    if changed or manifest_name(revision.file_name) not in published:
        _publish_manifest(revisions, outbox, customer, revision, build.settings)
        changed = True
    if decision.finalised:
        revisions.add_revision(revision)
        log.info("%s/%s revision %d is final", customer.id, revision.file_name, revision.revision)
    return _outcome(revision, changed=changed)


def _publish_manifest(
    revisions: Revisions,
    outbox: Outbox,
    customer: Customer,
    revision: FileRevision,
    settings: ExportSettings,
) -> None:
    earlier = revisions.list_revisions(customer.id, revision.day)
    manifest = manifest_of(
        customer,
        revision,
        restated=restated(revision, earlier),
        generator=settings.generator,
        change_record=(
            change_record_name(revision.file_name, revision.revision)
            if revision.changed_slots
            else None
        ),
    )
    outbox.publish(customer.id, manifest_name(revision.file_name), manifest_bytes(manifest))


def _changes(
    build: _Build, latest: FileRevision | None, previous: str | None
) -> ChangeRecord | None:
    """What the new file changes in the newest revision's (``previous``)."""
    if latest is None or previous is None:
        return None
    return changes_between(build.customer, build.slots, latest, previous, build.rendered.content)


def _outcome(revision: FileRevision, *, changed: bool) -> ExportOutcome:
    return ExportOutcome(
        customer=revision.customer,
        day=date.fromisoformat(revision.day),
        file_name=revision.file_name,
        revision=revision.revision,
        status=revision.status,
        changed=changed,
        rows=revision.rows,
        actual_slots=revision.actual_slots,
        slots=revision.slots,
        estimated_slots=revision.estimated_slots,
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a day is built: its millions of new objects
    hold no cycles, and collections that walk them all cost a fifth of the export."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
