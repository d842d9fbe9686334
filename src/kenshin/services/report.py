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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from kenshin.domain.intervals import Registers
from kenshin.domain.model import DEFAULT_TIMEZONE, Customer, Meter, SecurityEvent
from kenshin.domain.report import (
    CustomerQuality,
    DailyReport,
    DeadLetters,
    MeterQuality,
    NotCollected,
    UnitInfo,
    plural,
    report_due,
)
from kenshin.domain.report_quality import (
    day_events,
    gaps_only,
    group_dead_letters,
    heard_later,
    last_readings,
    meter_qualities,
    silent_units,
)
from kenshin.domain.report_render import SHOWN_METERS, render_csv, render_html, render_text
from kenshin.domain.report_spread import render_spread_csv
from kenshin.domain.slots import DaySlots, day_slots, day_start, slot_labels, zone
from kenshin.domain.vee import Rule, VeeDay, VeeSettings
from kenshin.errors import KenshinError
from kenshin.ports import DeadLetters as DeadLetterStore
from kenshin.ports import Readings
from kenshin.services.aggregate import (
    AGGREGATE_CHUNK,
    Marks,
    due_slots,
    like_days,
    serves_day,
    service_of,
    shown_mwh,
    too_large,
    validated,
)
from kenshin.services.export import ExportSettings
from kenshin.services.receipts import ReceiptPorts, missed_deadlines
from kenshin.services.report_spread import day_arrivals

log = logging.getLogger(__name__)

DEAD_LETTERS_READ = 10_000  # the most a report groups; it counts every one
# Where VEE is off the files show only A and N: the report then finds the gaps alone.
_GAPS_ONLY = VeeSettings(rules=frozenset({"missing"}), write_estimates=False)


class ReportPorts(ReceiptPorts, Protocol):
    """What the report reads: the registry, readings, revisions, receipts and dead
    letters. A ``Store`` is one."""

    @property
    def readings(self) -> Readings:
        """Register readings and their conflicts."""

    @property
    def dead_letters(self) -> DeadLetterStore:
        """Messages that could not be used, with their reasons."""


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

    def day_before(self, now: int) -> date:
        """The local day before the one ``now`` is in: the day a report at ``now`` is of."""
        return datetime.fromtimestamp(now, zone(self.timezone)).date() - timedelta(days=1)

    def due(self, now: int, last_sent: date | None) -> date | None:
        """The day whose report is due at ``now``, or None (see ``domain.report.report_due``)."""
        return report_due(now, self.at, zone(self.timezone), last_sent)


_DEFAULT_EXPORT = ExportSettings()
_DEFAULT_SETTINGS = ReportSettings()


def gather_report(  # noqa: PLR0913 - the report draws on every source there is
    store: ReportPorts,
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
    late = _late_files(store, day, now, settings)
    customers = _customers(store, customer_id)
    qualities = [
        replace(
            customer_quality(
                store, c, day, now=now, export=export, silent_hours=settings.silent_hours
            ),
            not_collected=tuple(late.get(c.id, [])),
        )
        for c in customers
    ]
    meters = [m.id for c in customers for m in store.registry.list_meters(c.id)]
    return DailyReport(
        day,
        now,
        settings.timezone,
        tuple(qualities),
        {u.device: u for u in units},
        day_events(events, start, end),
        *day_dead_letters(store, start, end),
        day_arrivals(store.readings, meters, start, end),
    )


def _customers(store: ReportPorts, customer_id: str | None) -> list[Customer]:
    if customer_id is None:
        return store.registry.list_customers()
    found = store.registry.get_customer(customer_id)
    if found is None:
        raise ReportError(f"no customer {customer_id!r}: see 'kenshin customers list'")
    return [found]


def _late_files(
    store: ReportPorts, day: date, now: int, settings: ReportSettings
) -> dict[str, list[NotCollected]]:
    """Per customer, its files not collected in time as of ``now`` or the report's time
    on the day after ``day``, whichever is earlier."""
    scheduled = datetime.combine(
        day + timedelta(days=1), settings.at, tzinfo=zone(settings.timezone)
    )
    as_of = min(now, int(scheduled.timestamp()))
    late: dict[str, list[NotCollected]] = {}
    for u in missed_deadlines(store, as_of, settings.collect_by_hours):
        late.setdefault(u.customer, []).append(
            NotCollected(u.day, u.file_name, u.revision, u.due_at, u.collected_at)
        )
    return late


def day_dead_letters(
    store: ReportPorts, start: int, end: int
) -> tuple[tuple[DeadLetters, ...], int]:
    """The dead letters received from ``start`` to before ``end``, grouped by sender
    (of the first ``DEAD_LETTERS_READ``), and how many there are in all."""
    kept = store.dead_letters
    total = kept.count_dead_letters(start) - kept.count_dead_letters(end)
    letters = [
        d for d in kept.list_dead_letters(DEAD_LETTERS_READ, since=start) if d.received_at < end
    ]
    registered = {d.id for d in store.registry.list_devices()}
    return group_dead_letters(letters, registered), total


def customer_quality(
    store: ReportPorts,
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
    checked = _Day(customer, slots, export.vee_for(customer.id), export.max_demand_w, now)
    # Only the meters in service this day: a meter's time outside it is no gap, and a
    # unit none of whose meters was in service (not fitted yet, taken out), or that has
    # none (never heard from: not installed yet, as the alerts take it), is not silent.
    meters = [m for m in store.registry.list_meters(customer.id) if serves_day(m, slots)]
    serving = {m.device for m in meters}
    problems: list[MeterQuality] = []
    heard: dict[str, int | None] = {
        d.id: None for d in store.registry.list_devices(customer.id) if d.id in serving
    }
    for chunk in _chunks(meters):
        found, last = _chunk_quality(store.readings, checked, chunk)
        problems += found
        heard = heard_later(heard, chunk, last)
    silent = silent_units(heard, slots.end, now, silent_hours)
    return CustomerQuality(
        customer, tuple(slot_labels(slots, tz)), len(meters), tuple(problems), silent
    )


@dataclass(frozen=True)
class _Day:
    """A customer's day as the report validates it."""

    customer: Customer
    slots: DaySlots
    configured: VeeSettings | None  # None: VEE is off, only the gaps are found
    max_demand_w: int
    now: int

    @property
    def vee(self) -> VeeSettings:
        return self.configured or _GAPS_ONLY


def _chunks(meters: list[Meter]) -> Iterator[list[Meter]]:
    """The meters a chunk at a time, those too large for VEE (gaps only) apart, as the
    files leave them out of VEE alone."""
    for lo in range(0, len(meters), AGGREGATE_CHUNK):
        chunk = meters[lo : lo + AGGREGATE_CHUNK]
        large = set(too_large(chunk))
        parts = [[m for i, m in enumerate(chunk) if i not in large], [chunk[i] for i in large]]
        yield from (part for part in parts if part)


def _chunk_quality(
    readings: Readings, day: _Day, chunk: list[Meter]
) -> tuple[list[MeterQuality], list[int | None]]:
    """The chunk's meters with a problem, and each one's last reading of the day."""
    slots, vee, customer = day.slots, day.vee, day.customer
    days = [slots]
    if day.configured is not None:
        days += like_days(customer, slots, vee.like_day_weeks)
    due = due_slots(slots, day.now)
    ids = [m.id for m in chunk]
    grids = [readings.boundary_registers(ids, d.start, d.count) for d in days]
    wanted = vee.enabled(Rule.CONFLICT)
    marks = Marks(
        slots.start,
        readings.conflicts_between(ids, slots.start, slots.end) if wanted else [],
    )
    full = _validated(chunk, grids, day.max_demand_w, vee, due, shown_mwh(customer), marks)
    last = last_readings(*grids[0], slots)
    service = service_of(full.meters, chunk, slots.start, slots.count)
    flags = full.for_customer(vee).flags
    return meter_qualities(chunk, full, flags, due, last, service), last


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
    return gaps_only(chunk, grids[0], max_demand_w, due)


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
    """The report as a mail: plain text with an HTML alternative, and the CSV attached (and
    the arrival spread's, where known)."""
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
    if report.arrivals is not None and report.arrivals.total:
        spread = render_spread_csv(report.arrivals)
        name = f"kenshin-arrivals-{report.day}.csv"
        message.add_attachment(spread, maintype="text", subtype="csv", filename=name)
    return message


def send_due_report(  # noqa: PLR0913 - the report draws on every source there is
    store: ReportPorts,
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
    send_report(
        store, day, send, now=now, settings=settings, export=export, units=units, events=events
    )
    return day


def send_report(  # noqa: PLR0913 - the report draws on every source there is
    store: ReportPorts,
    day: date,
    send: Callable[[EmailMessage], None],
    *,
    now: int,
    settings: ReportSettings = _DEFAULT_SETTINGS,
    export: ExportSettings = _DEFAULT_EXPORT,
    units: Sequence[UnitInfo] = (),
    events: Sequence[SecurityEvent] | None = None,
) -> None:
    """Make the report of local ``day`` at ``now`` and ``send`` it."""
    report = gather_report(
        store, day, now=now, export=export, settings=settings, units=units, events=events
    )
    send(report_email(report, settings))
    log.info("sent the data-quality report of %s to %d recipients", day, len(settings.recipients))
