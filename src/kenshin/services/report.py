"""The daily data-quality report: gathered from the store, built as an email, sent when due.

Each customer's day goes through VEE as its export does (its own settings; where VEE
is off, only the gaps are found), and every meter with a slot missing, estimated or
questionable, or a rule that fired, is kept with its counts. A unit is silent when
none of its meters gave a reading in the day's last ``silent_hours``. The units'
firmware and signal, and the day's security events, come from the caller; the day's
dead letters are read from the store, grouped by sender.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import numpy as np
import numpy.typing as npt

from kenshin.domain.daytable import day_table
from kenshin.domain.intervals import NO_REGISTER, NO_VALUE, Registers
from kenshin.domain.model import DEFAULT_TIMEZONE, Customer, DeadLetter, Meter, SecurityEvent
from kenshin.domain.report import (
    KINDS,
    CustomerQuality,
    DailyReport,
    DeadLetters,
    MeterQuality,
    NotCollected,
    UnitInfo,
    plural,
    report_due,
)
from kenshin.domain.report_render import SHOWN_METERS, render_csv, render_html, render_text
from kenshin.domain.slots import SLOT_SECONDS, DaySlots, day_slots, day_start, slot_labels, zone
from kenshin.domain.vee import ESTIMATED, QUESTIONABLE, RULE_NAMES, Rule, VeeDay, VeeSettings
from kenshin.errors import KenshinError
from kenshin.ports import Store
from kenshin.services.aggregate import (
    AGGREGATE_CHUNK,
    Marks,
    due_slots,
    like_days,
    serves_day,
    service_of,
    shown_mwh,
    validated,
)
from kenshin.services.export import ExportSettings
from kenshin.services.receipts import missed_deadlines

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600
DEAD_LETTERS_READ = 10_000  # the most a report groups; it counts every one
# Where VEE is off the files show only A and N: the report then finds the gaps alone.
_GAPS_ONLY = VeeSettings(rules=frozenset({"missing"}), write_estimates=False)
_E, _Q, _N = (ord(f) for f in (ESTIMATED, QUESTIONABLE, NO_VALUE))
Mask = npt.NDArray[np.bool_]


class ReportError(KenshinError):
    """The report cannot be made as asked: an unknown customer, bad settings."""


@dataclass(frozen=True)
class ReportSettings:
    """When the daily report is made (local ``at`` in ``timezone``), who gets it, and
    what counts: a unit is silent after ``silent_hours`` without a reading, a file is
    late ``collect_by_hours`` after its day; the mail shows ``shown_meters`` per customer."""

    at: time = time(8, 0)
    timezone: str = DEFAULT_TIMEZONE
    recipients: tuple[str, ...] = ()
    sender: str = "kenshin@localhost"
    silent_hours: int = 6
    collect_by_hours: int = 12
    shown_meters: int = SHOWN_METERS

    def __post_init__(self) -> None:
        try:
            zone(self.timezone)
        except ValueError as exc:
            raise ReportError(f"report timezone: {exc}") from exc
        for address in (*self.recipients, self.sender):
            if "@" not in parseaddr(address)[1]:
                raise ReportError(f"report address {address!r}: expected name@domain")
        if not 1 <= self.silent_hours <= 24:
            raise ReportError(f"silent_hours: expected 1 to 24, got {self.silent_hours}")
        if self.shown_meters < 0 or self.collect_by_hours < 0:
            raise ReportError("shown_meters and collect_by_hours: expected 0 or more")

    def due(self, now: int, last_sent: date | None) -> date | None:
        """The day whose report is due at ``now``, or None (see ``domain.report.report_due``)."""
        return report_due(now, self.at, zone(self.timezone), last_sent)


_DEFAULT_EXPORT = ExportSettings()
_DEFAULT_SETTINGS = ReportSettings()


def gather_report(  # noqa: PLR0913 - the report draws on every source there is
    store: Store,
    day: date,
    *,
    now: int,
    export: ExportSettings = _DEFAULT_EXPORT,
    settings: ReportSettings = _DEFAULT_SETTINGS,
    units: Sequence[UnitInfo] = (),
    events: Sequence[SecurityEvent] | None = None,
    customer_id: str | None = None,
) -> DailyReport:
    """The report of local ``day`` for every customer (or ``customer_id``) at ``now``.

    ``events`` may hold more than the day: those of the day (in the report's time zone)
    are kept; None says the events are not known. Files count as not collected (or
    collected late) as of ``now``, or of the report's time on the day after ``day`` if
    that is earlier, so that a report made again later says the same."""
    tz = zone(settings.timezone)
    start, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
    if customer_id is None:
        customers = store.registry.list_customers()
    elif (found := store.registry.get_customer(customer_id)) is not None:
        customers = [found]
    else:
        raise ReportError(f"no customer {customer_id!r}: see 'kenshin customers list'")
    scheduled = datetime.combine(day + timedelta(days=1), settings.at, tzinfo=tz)
    as_of = min(now, int(scheduled.timestamp()))
    late: dict[str, list[NotCollected]] = {}
    for u in missed_deadlines(store, as_of, settings.collect_by_hours):
        late.setdefault(u.customer, []).append(
            NotCollected(u.day, u.file_name, u.revision, u.due_at, u.collected_at)
        )
    qualities = [
        replace(
            customer_quality(
                store, c, day, now=now, export=export, silent_hours=settings.silent_hours
            ),
            not_collected=tuple(late.get(c.id, [])),
        )
        for c in customers
    ]
    day_events = None if events is None else [e for e in events if start <= e.at < end]
    return DailyReport(
        day,
        now,
        settings.timezone,
        tuple(qualities),
        {u.device: u for u in units},
        None if day_events is None else tuple(sorted(day_events, key=lambda e: e.at)),
        *day_dead_letters(store, start, end),
    )


def day_dead_letters(store: Store, start: int, end: int) -> tuple[tuple[DeadLetters, ...], int]:
    """The dead letters received from ``start`` to before ``end``, grouped by sender
    (of the first ``DEAD_LETTERS_READ``), and how many there are in all."""
    total = store.dead_letters.count_dead_letters(start) - store.dead_letters.count_dead_letters(
        end
    )
    letters = [
        d
        for d in store.dead_letters.list_dead_letters(DEAD_LETTERS_READ, since=start)
        if d.received_at < end
    ]
    registered = {d.id for d in store.registry.list_devices()}
    return group_dead_letters(letters, registered), total


def group_dead_letters(
    letters: Iterable[DeadLetter], registered: set[str]
) -> tuple[DeadLetters, ...]:
    """One group per sender, most letters first: the last reason and when it came."""
    groups: dict[str | None, DeadLetters] = {}
    for d in sorted(letters, key=lambda d: d.received_at):
        count = groups[d.device].count + 1 if d.device in groups else 1
        known = d.device is None or d.device in registered
        groups[d.device] = DeadLetters(d.device, count, d.reason, d.received_at, known)
    return tuple(sorted(groups.values(), key=lambda g: (-g.count, g.device or "")))


def customer_quality(
    store: Store,
    customer: Customer,
    day: date,
    *,
    now: int,
    export: ExportSettings = _DEFAULT_EXPORT,
    silent_hours: int = 6,
) -> CustomerQuality:
    """One customer's local ``day``: its meters with a problem and its silent units."""
    try:
        tz = zone(customer.timezone)
    except ValueError as exc:
        raise ReportError(f"customer {customer.id!r}: {exc}") from exc
    slots = day_slots(day, tz)
    configured = export.vee_for(customer.id)
    vee = configured or _GAPS_ONLY
    days = (
        [slots] if configured is None else [slots, *like_days(customer, slots, vee.like_day_weeks)]
    )
    due = due_slots(slots, now)
    # Only the meters in service this day: a meter's time outside it is no gap, and a
    # unit none of whose meters was in service (not fitted yet, taken out) is not silent.
    listed = store.registry.list_meters(customer.id)
    meters = [m for m in listed if serves_day(m, slots)]
    idle = {m.device for m in listed} - {m.device for m in meters}
    problems: list[MeterQuality] = []
    heard: dict[str, int | None] = {
        d.id: None for d in store.registry.list_devices(customer.id) if d.id not in idle
    }
    for lo in range(0, len(meters), AGGREGATE_CHUNK):
        chunk = meters[lo : lo + AGGREGATE_CHUNK]
        ids = [m.id for m in chunk]
        grids = [store.readings.boundary_registers(ids, d.start, d.count) for d in days]
        wanted = vee.enabled(Rule.CONFLICT)
        marks = Marks(
            slots.start,
            store.readings.conflicts_between(ids, slots.start, slots.end) if wanted else [],
        )
        full = _validated(chunk, grids, export.max_demand_w, vee, due, shown_mwh(customer), marks)
        last = last_readings(*grids[0], slots)
        service = service_of(full.meters, chunk, slots.start, slots.count)
        problems += meter_qualities(chunk, full, full.for_customer(vee).flags, due, last, service)
        for meter, t in zip(chunk, last, strict=True):
            if t is not None and (heard.get(meter.device) or 0) < t:
                heard[meter.device] = t
    quiet_after = min(slots.end, now) - silent_hours * SECONDS_PER_HOUR
    silent = {d: t for d, t in heard.items() if t is None or t <= quiet_after}
    return CustomerQuality(
        customer, tuple(slot_labels(slots, tz)), len(meters), tuple(problems), silent
    )


def _validated(
    chunk: list[Meter],
    grids: list[tuple[Registers, Registers]],
    max_demand_w: int,
    vee: VeeSettings,
    due: int,
    shown: int,
    marks: Marks,
) -> VeeDay:
    """The chunk through VEE; for a meter whose registers could overflow int64, the gaps
    alone, as its file shows them."""
    try:
        return validated(chunk, grids, max_demand_w, vee, due, shown, marks)
    except ValueError as exc:
        log.warning("report: gaps only for %d meters from %s: %s", len(chunk), chunk[0].id, exc)
    table = day_table(chunk, *grids[0], max_demand_w)
    gaps = (table.flags == _N) & (np.arange(table.flags.shape[1]) < due)
    zeros = np.zeros(table.flags.shape, np.uint8)
    bits = (gaps * np.uint16(Rule.MISSING)).astype(np.uint16)
    return VeeDay(table.meters, table.directions, table.values, table.flags, zeros, bits)


def meter_qualities(
    meters: Sequence[Meter],
    full: VeeDay,
    shown_flags: npt.NDArray[np.uint8],
    due: int,
    last: Sequence[int | None],
    service: Mask | None = None,
) -> list[MeterQuality]:
    """The meters of ``full`` (in ``meters`` order, one or two rows each) that have a
    slot missing, estimated in the file (``shown_flags``) or questionable, or a rule
    that fired; a slot counts once per meter, and only while its meter is in service
    (``service``, per row of ``full``; default: all day)."""
    if not meters:
        return []
    names = np.array(full.meters)
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    done = np.arange(full.flags.shape[1]) < due
    if service is not None:
        done = done & service
    holes = ((full.flags == _E) | (full.flags == _N)) & done
    fired = full.rules if service is None else np.where(service, full.rules, np.uint16(0))
    bits = np.bitwise_or.reduceat(fired | (holes * np.uint16(Rule.MISSING)), starts, axis=0)
    missing = (bits & np.uint16(Rule.MISSING)) != 0
    estimated = np.logical_or.reduceat(shown_flags == _E, starts, axis=0)
    questionable = np.logical_or.reduceat(full.flags == _Q, starts, axis=0)
    rules = {n: ((bits & np.uint16(r)) != 0).sum(axis=1) for n, r in RULE_NAMES.items()}
    kinds = _kinds(bits)
    found = []
    for i in np.flatnonzero(bits.any(axis=1) | estimated.any(axis=1) | questionable.any(axis=1)):
        meter = meters[int(i)]
        gaps = missing[i]
        found.append(
            MeterQuality(
                meter.id,
                meter.device,
                int(gaps.sum()),
                int(estimated[i].sum()),
                int(questionable[i].sum()),
                {n: int(c[i]) for n, c in rules.items() if c[i]},
                {k: int(c[i]) for k, c in kinds.items() if c[i]},
                int(np.argmax(gaps)) if gaps.any() else None,
                _trailing(gaps[:due]),
                last[int(i)],
            )
        )
    return found


def _kinds(bits: npt.NDArray[np.uint16]) -> dict[str, npt.NDArray[np.int64]]:
    """Per meter, the slots of each kind: a slot is of the first kind in KINDS it has."""
    taken = np.zeros(bits.shape, np.bool_)
    counts = {}
    for kind in KINDS:
        hit = ((bits & np.uint16(RULE_NAMES[kind])) != 0) & ~taken
        taken |= hit
        counts[kind] = hit.sum(axis=1)
    return counts


def _trailing(gaps: Mask) -> int | None:
    """The first slot of a gap that lasts to the end, or None if the last slot is not one."""
    if not gaps.size or not gaps[-1]:
        return None
    read = np.flatnonzero(~gaps)
    return int(read[-1]) + 1 if read.size else 0


def last_readings(fwd: Registers, rev: Registers, slots: DaySlots) -> list[int | None]:
    """Each meter's last reading of the day (UTC epoch s, boundaries included), or None."""
    known = (fwd != NO_REGISTER) | (rev != NO_REGISTER)
    last = known.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
    return [
        slots.start + int(j) * SLOT_SECONDS if any_ else None
        for j, any_ in zip(last, known.any(axis=1), strict=True)
    ]


def report_subject(report: DailyReport) -> str:
    """The mail's subject: the day and its worst counts."""
    t = report.totals()
    if not (t.meters_with_problems or t.silent_units or t.not_collected or t.dead_letters):
        return f"kenshin data quality {report.day}: all well"
    letters = f", {plural(t.dead_letters, 'dead letter')}" if t.dead_letters else ""
    return (
        f"kenshin data quality {report.day}: {plural(t.missing, 'slot')} missing,"
        f" {t.questionable:,} questionable, {plural(t.silent_units, 'silent unit')},"
        f" {plural(t.not_collected, 'file')} not collected{letters}"
    )


def report_email(report: DailyReport, settings: ReportSettings = _DEFAULT_SETTINGS) -> EmailMessage:
    """The report as a mail: plain text with an HTML alternative, and the CSV attached."""
    message = EmailMessage()
    message["Subject"] = report_subject(report)
    message["From"] = settings.sender
    if settings.recipients:
        message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(report.made_at, usegmt=True)
    message["Message-ID"] = make_msgid("report", domain="kenshin")
    message.set_content(render_text(report, settings.shown_meters))
    message.add_alternative(render_html(report, settings.shown_meters), subtype="html")
    message.add_attachment(
        render_csv(report),
        maintype="text",
        subtype="csv",
        filename=f"kenshin-quality-{report.day}.csv",
    )
    return message


def send_due_report(  # noqa: PLR0913 - the report draws on every source there is
    store: Store,
    send: Callable[[EmailMessage], None],
    *,
    now: int,
    last_sent: date | None,
    settings: ReportSettings = _DEFAULT_SETTINGS,
    export: ExportSettings = _DEFAULT_EXPORT,
    units: Sequence[UnitInfo] = (),
    events: Sequence[SecurityEvent] | None = None,
) -> date | None:
    """Make and ``send`` the report if one is due at ``now``; the day sent, or None.
    The caller keeps the day as ``last_sent``: a send that raises is tried next time."""
    day = settings.due(now, last_sent)
    if day is None:
        return None
    report = gather_report(
        store, day, now=now, export=export, settings=settings, units=units, events=events
    )
    send(report_email(report, settings))
    log.info("sent the data-quality report of %s to %d recipients", day, len(settings.recipients))
    return day
