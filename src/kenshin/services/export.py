"""Export: build a customer's day file from the store and publish it, with its manifest.

Every meter of the customer gets its rows, even a meter that sent nothing that
day: a silent meter shows as slots flagged ``N``, so the customer sees the gap.
A day is provisional until ``grace_hours`` after its end, then final. A file is
published again only when its content changes (a new revision); a final day
that changes later is restated. The file is published before its manifest and
the revision is recorded last, so a run killed at any point is simply redone.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from kenshin import __version__
from kenshin.domain.changes import (
    ChangeRecord,
    change_record_name,
    change_record_text,
    compare_files,
    is_change_record,
    slot_starts,
)
from kenshin.domain.csvfiles import LOCAL_CUT, file_slots, new_day_cut, render_day
from kenshin.domain.daytable import DayTable
from kenshin.domain.energy import DEFAULT_MAX_DEMAND_W, SECONDS_PER_HOUR
from kenshin.domain.made_with import (
    MadeWith,
    demand_of,
    made_with_from_json,
    made_with_json,
    service_of,
)
from kenshin.domain.manifest import (
    MANIFEST_SUFFIX,
    Manifest,
    manifest_bytes,
    manifest_day,
    manifest_name,
)
from kenshin.domain.model import FILE_SETTINGS, Customer, FileRevision
from kenshin.domain.slots import SLOT_SECONDS, DaySlots, local_day, zone
from kenshin.domain.vee import VeeSettings
from kenshin.errors import ExportError
from kenshin.ports import Compacting, Outbox, Store
from kenshin.services.aggregate import aggregate_day, drift_spells

log = logging.getLogger(__name__)

PROVISIONAL = "provisional"
FINAL = "final"
# Readings of a packed day still count; packing an hour after the day keeps that rare.
PACK_DELAY_S = 3600


@dataclass(frozen=True)
class ExportSettings:
    """How files are exported: grace before a day is final, retention, defaults, and the
    VEE settings (None: no VEE, slots are A or N), with customers' own over them."""

    grace_hours: int = 6
    retention_days: int = 45
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


def export_day(
    store: Store,
    outbox: Outbox,
    customer: Customer,
    day: date,
    *,
    now: int,
    settings: ExportSettings = _DEFAULT_SETTINGS,
) -> ExportOutcome:
    """Build the customer's file of local ``day`` and publish it if it is new or changed.

    A day older than the retention is refused: its file would only be removed again.
    """
    oldest = oldest_kept_day(customer, now=now, retention_days=settings.retention_days)
    if day < oldest:
        raise ExportError(
            f"{day} is older than the {settings.retention_days}-day retention of files "
            f"(the oldest day kept is {oldest}): its file would be removed at once"
        )
    latest = store.revisions.latest_revision(customer.id, day.isoformat())
    customer = settings_of_day(customer, latest)
    _zone(customer)  # an unknown zone is an ExportError naming the customer
    cut = cut_of_day(customer, latest)
    slots = file_slots(customer, day, cut)
    name = file_name(customer, day)
    with _collector_paused():
        vee = settings.vee_for(customer.id)
        # Read as of one watermark, with the drift spells of now: kept with the revision,
        # they make it again byte for byte (kenshin replay).
        mark = store.watermark()
        devices = [d.id for d in store.registry.list_devices(customer.id)]
        drift = tuple(drift_spells(store, slots, vee, devices))
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
    status = FINAL if now >= slots.end + settings.grace_hours * SECONDS_PER_HOUR else PROVISIONAL
    if latest is not None:
        if latest.content_key == rendered.content_key and latest.file_name == name:
            job = _Job(customer, slots, days, settings)
            return _keep(store, outbox, job, latest, status)
        # Once final, always final: a later change is a restatement, not a new draft.
        status = FINAL if latest.status == FINAL else status
    number = 1 if latest is None else latest.revision + 1
    changes = _changes(outbox, customer, slots, latest, rendered.content)
    revision = FileRevision(
        customer=customer.id,
        day=day.isoformat(),
        revision=number,
        status=status,
        file_name=name,
        sha256=rendered.sha256,
        content_key=rendered.content_key,
        rows=rendered.rows,
        slots=rendered.slots,
        actual_slots=rendered.actual_slots,
        created_at=now,
        estimated_slots=rendered.estimated_slots,
        changed_slots=changes.count if changes else 0,
        as_of_batch=mark.batch,
        as_of_meter=mark.meter,
        made_with=made_with_json(
            MadeWith(
                customer,
                vee,
                settings.max_demand_w,
                drift,
                service_of(meters),
                demand_of(meters),
                cut,
            )
        ),
    )
    outbox.publish(customer.id, name, rendered.content)
    if changes and changes.changes:
        text = change_record_text(changes, slot_starts(slots, _zone(customer)))
        outbox.publish(customer.id, change_record_name(name, number), text.encode("utf-8"))
    _publish_manifest(store, outbox, customer, revision, settings)
    store.revisions.add_revision(revision)
    log.info(
        "published %s/%s revision %d (%s)", customer.id, name, revision.revision, revision.status
    )
    return _outcome(revision, changed=True)


def settings_of_day(customer: Customer, latest: FileRevision | None) -> Customer:
    """The customer with the file settings its day was first written with: a change of
    settings applies to new files only, so a day's revisions stay alike (and its change
    records compare like with like). A day without a file, or whose revision does not
    say, takes the customer's settings as they are."""
    if latest is None or not latest.made_with:
        return customer
    try:
        made = made_with_from_json(latest.made_with).customer
    except ValueError:
        return customer
    return replace(customer, **{name: getattr(made, name) for name in FILE_SETTINGS})


def cut_of_day(customer: Customer, latest: FileRevision | None) -> str:
    """How the day is cut into slots: as its file was first written (every revision
    keeps it, so that no half hour falls between a day's revisions or between days
    already published, and change records compare the same half hours); a revision that
    does not say was cut local. A day without a file is cut as its layout cuts new days."""
    if latest is None:
        return new_day_cut(customer)
    try:
        return made_with_from_json(latest.made_with).cut if latest.made_with else LOCAL_CUT
    except ValueError:
        return LOCAL_CUT


def pack_closed_days(store: Store, now: int) -> int:
    """Pack the store's UTC days that ended ``PACK_DELAY_S`` or more before ``now``, so
    that exporting them is fast, if it can (``Compacting``); how many days were packed."""
    readings = store.readings
    return readings.compact(now - PACK_DELAY_S) if isinstance(readings, Compacting) else 0


def file_name(customer: Customer, day: date) -> str:
    """The name of the customer's file of ``day``, from its file pattern."""
    try:
        name = customer.file_pattern.format(customer=customer.id, date=day)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ExportError(
            f"file pattern {customer.file_pattern!r} of customer {customer.id!r} is invalid: "
            "use {customer} and {date}, e.g. '{customer}_{date:%Y%m%d}.csv'"
        ) from exc
    if (
        not name
        or name.startswith(".")
        or name.endswith(MANIFEST_SUFFIX)
        or any(c in name for c in "/\\\x00")
    ):
        raise ExportError(
            f"file pattern {customer.file_pattern!r} of customer {customer.id!r} gives "
            f"{name!r}: a file name must not be empty, start with '.', hold a path "
            f"separator or end with {MANIFEST_SUFFIX!r}"
        )
    return name


# Days that differ in year, month or day only: a valid pattern names each differently.
_PATTERN_PROBES = (date(2026, 1, 31), date(2026, 2, 1), date(2027, 1, 31), date(2026, 1, 30))


def check_file_pattern(pattern: str) -> None:
    """Raise ExportError unless ``pattern`` gives a valid, different file name for every day."""
    probe = Customer("C-1", "probe", file_pattern=pattern)
    names = {file_name(probe, day) for day in _PATTERN_PROBES}
    if len(names) < len(_PATTERN_PROBES):
        raise ExportError(
            f"file pattern {pattern!r} gives the same name to different days: it needs the "
            "whole date, e.g. '{customer}_{date:%Y%m%d}.csv'"
        )


def oldest_kept_day(customer: Customer, *, now: int, retention_days: int) -> date:
    """The oldest local day of the customer whose file is kept at ``now``."""
    return local_day(now, _zone(customer)) - timedelta(days=retention_days)


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


def days_to_export(
    store: Store,
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
    today = local_day(now, _zone(customer))
    days = [today - timedelta(days=back) for back in range(lookback_days, 0, -1)]
    pending = [
        day
        for day in days
        if (latest := store.revisions.latest_revision(customer.id, day.isoformat())) is None
        or latest.status != FINAL
    ]
    return [*pending, today]


@dataclass(frozen=True)
class _Job:
    """One customer's day being exported."""

    customer: Customer
    slots: DaySlots
    days: DayTable
    settings: ExportSettings


def _keep(
    store: Store, outbox: Outbox, job: _Job, latest: FileRevision, status: str
) -> ExportOutcome:
    """Same content as the newest revision: finalise it, or republish what went missing."""
    customer = job.customer
    revision = latest
    if latest.status == PROVISIONAL and status == FINAL:
        revision = replace(latest, status=FINAL)
    published = set(outbox.list_files(customer.id))
    file_missing = latest.file_name not in published
    if file_missing:
        # The revision's own time, so that a NEM12 file comes back byte for byte.
        again = render_day(customer, job.slots, job.days, created_at=latest.created_at)
        outbox.publish(customer.id, latest.file_name, again.content)
    changed = file_missing or revision != latest
    if changed or manifest_name(latest.file_name) not in published:
        _publish_manifest(store, outbox, customer, revision, job.settings)
        changed = True
    if revision != latest:
        store.revisions.add_revision(revision)
        log.info("%s/%s revision %d is final", customer.id, latest.file_name, latest.revision)
    return _outcome(revision, changed=changed)


def _publish_manifest(
    store: Store,
    outbox: Outbox,
    customer: Customer,
    revision: FileRevision,
    settings: ExportSettings,
) -> None:
    earlier = store.revisions.list_revisions(customer.id, revision.day)
    restated = any(r.status == FINAL and r.revision < revision.revision for r in earlier)
    manifest = Manifest(
        customer=customer.id,
        day=date.fromisoformat(revision.day),
        file=revision.file_name,
        revision=revision.revision,
        status=revision.status,
        restated=restated,
        rows=revision.rows,
        slots=revision.slots,
        actual_slots=revision.actual_slots,
        estimated_slots=revision.estimated_slots,
        sha256=revision.sha256,
        layout=str(customer.layout),
        encoding=customer.encoding,
        timezone=customer.timezone,
        created_at=revision.created_at,
        generator=settings.generator,
        changed_slots=revision.changed_slots,
        change_record=(
            change_record_name(revision.file_name, revision.revision)
            if revision.changed_slots
            else None
        ),
    )
    outbox.publish(customer.id, manifest_name(revision.file_name), manifest_bytes(manifest))


def _changes(
    outbox: Outbox,
    customer: Customer,
    slots: DaySlots,
    latest: FileRevision | None,
    content: bytes,
) -> ChangeRecord | None:
    """What the new content changes in the newest revision's file, if that is still there."""
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
    reported = min(max((latest.created_at - slots.start) // SLOT_SECONDS, 0), slots.count)
    return compare_files(
        customer.layout,
        before.decode(customer.encoding),
        content.decode(customer.encoding),
        starts=slot_starts(slots, _zone(customer)),
        reported=reported,
        flags=customer.flags,
    )


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


def _zone(customer: Customer) -> ZoneInfo:
    try:
        return zone(customer.timezone)
    except ValueError as exc:
        raise ExportError(f"customer {customer.id!r}: {exc}") from exc
