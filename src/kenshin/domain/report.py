"""The daily data-quality report: what it holds, its root-cause lines, and when it is due.

A report covers one local day: per customer, the meters with missing, estimated or
questionable slots and the rules that fired on them, the silent units, the files not
collected (or collected late), the day's security events and its dead letters, those of
unknown devices apart. ``root_causes`` folds the meters into a few
lines, one per customer, kind of failure, unit firmware and signal band, so that one
cause reads as one line however many meters it hit, with its likely cause and the
next step. The renderings (text, HTML, CSV) follow.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kenshin.domain.model import Customer, SecurityEvent
from kenshin.domain.slots import iso_utc

# The kind of a slot that several rules fired on is the first of these: what explains it.
KINDS = (
    "future",
    "negative",
    "conflict",
    "clock",
    "missing",
    "sum",
    "spike",
    "high",
    "stuck",
    "zero_run",
    "low",
)
KIND_TEXT = {
    "silent": "missing",
    "missing": "missing",
    "future": "lost to readings dated in the future",
    "negative": "where the register went backwards",
    "conflict": "with conflicting readings",
    "clock": "read by a unit whose clock drifts",
    "sum": "whose estimate does not add up to the registers",
    "spike": "with a spike far above the meter's peak",
    "high": "far above the same slot on like days",
    "stuck": "stuck at zero",
    "zero_run": "in a long run of zeros",
    "low": "in a day far below its like days",
}
# Per kind: the likely cause, and the next step ({customer}, {meter}, {device}, {day} and
# {slot}, the first slot of the kind where known, are filled in).
_UNUSUAL = (
    "unusual consumption (a real change at the site, or a meter fault)",
    "check with the customer or on site; 'kenshin explain {meter} --slot \"{day} {slot}\"'"
    " shows its readings",
)
KIND_ADVICE = {
    "silent": (
        "the unit stopped sending (power, signal, or a certificate expired or revoked)",
        "see its certificate with 'kenshin devices list --customer {customer}', then power"
        " and signal on site (it sends what it kept once it is back)",
    ),
    "missing": (
        "readings did not arrive (a unit offline for a while, or messages lost)",
        "the server asks for gaps by itself; to ask now: 'kenshin devices resend {device}"
        " --from {day}T{slot} --to {day}T23:30'",
    ),
    "future": (
        "a unit's clock runs ahead: its readings were dated in the future and set aside",
        "set the unit's clock right (NTP); what was set aside is in 'kenshin dead-letters'",
    ),
    "negative": (
        "a meter exchange (or a reset of the register)",
        "'kenshin explain {meter} --slot \"{day} {slot}\"' shows its readings; if it was"
        " exchanged, record when: 'kenshin meters service {meter} --removed TIME'",
    ),
    "conflict": (
        "a unit sent readings again with other values (its memory or clock was reset, or"
        " two units report one meter)",
        "'kenshin conflicts' lists them, the value kept and the other",
    ),
    "clock": (
        "the unit's clock drifts",
        "check the unit's time source (NTP); 'kenshin explain {meter} --slot \"{day} {slot}\"'"
        " shows the times it sent",
    ),
    "sum": (
        "a reading is likely wrong: the slots do not add up to the registers",
        "'kenshin explain {meter} --slot \"{day} {slot}\"' shows its readings",
    ),
    "spike": _UNUSUAL,
    "high": _UNUSUAL,
    "low": _UNUSUAL,
    "stuck": (
        "no consumption: a vacancy, a load switched off, or a meter that stopped counting",
        _UNUSUAL[1],
    ),
    "zero_run": (
        "no consumption: a vacancy, a load switched off, or a meter that stopped counting",
        _UNUSUAL[1],
    ),
}
SHOWN_LETTER_GROUPS = 10  # dead-letter lines in the body; 'kenshin dead-letters' has all
# LTE RSRP: above -90 dBm a unit is well served; below -105 dBm it is at the cell edge.
GOOD_DBM = -90
WEAK_DBM = -105


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """What a unit last reported of itself: firmware, signal (RSRP, dBm), when last seen."""

    device: str
    customer: str
    firmware: str | None = None
    rsrp_dbm: float | None = None
    last_seen: int | None = None  # UTC epoch s


@dataclass(frozen=True, slots=True)
class MeterQuality:
    """A meter's day: slots without a measured value (``missing``; ``estimated`` of them
    were filled), ``questionable`` measured slots, and the slots each rule fired on and
    each kind of failure holds. A slot counts once per meter, whichever rows show it.
    ``first_missing`` and ``missing_from`` (a gap that lasts to the day's end) are slot
    indices; ``last_reading`` is the meter's last reading of the day (UTC epoch s)."""

    meter: str
    device: str
    missing: int
    estimated: int
    questionable: int
    rules: Mapping[str, int]
    kinds: Mapping[str, int]
    first_missing: int | None = None
    missing_from: int | None = None
    last_reading: int | None = None


@dataclass(frozen=True, slots=True)
class NotCollected:
    """A final daily file its customer had not collected when it was due (UTC epoch s),
    and when it collected it after all, if it did by the report's time."""

    day: str
    file_name: str
    revision: int
    due_at: int
    collected_at: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """The day's dead letters of one sender: a device (None where no device is named),
    how many, the reason of the last and when it came (UTC epoch s), and whether the
    device is registered (an unknown device is not)."""

    device: str | None
    count: int
    reason: str
    last_at: int
    registered: bool = True


@dataclass(frozen=True)
class CustomerQuality:
    """One customer's day: its slot labels, how many meters it has, the meters with a
    problem, its silent units (with their last reading of the day), files not collected
    in time (some collected late)."""

    customer: Customer
    labels: tuple[str, ...]
    meters: int
    problems: tuple[MeterQuality, ...]
    silent: Mapping[str, int | None] = field(default_factory=dict)
    not_collected: tuple[NotCollected, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        """The customer's time zone."""
        return ZoneInfo(self.customer.timezone)

    def total(self, what: str) -> int:
        """The sum of ``missing``, ``estimated`` or ``questionable`` over its meters."""
        return sum(int(getattr(m, what)) for m in self.problems)

    @property
    def uncollected(self) -> tuple[NotCollected, ...]:
        """Its files still not collected."""
        return tuple(f for f in self.not_collected if f.collected_at is None)


@dataclass(frozen=True)
class DailyReport:
    """The report of local ``day``, made at ``made_at`` (UTC epoch s) in ``timezone``.
    ``security`` is None where the day's security events are not known; ``dead_letters``
    are the day's, one group per sender, most first (``dead_letter_total`` counts every
    one, where the groups were made of fewer)."""

    day: date
    made_at: int
    timezone: str
    customers: tuple[CustomerQuality, ...]
    units: Mapping[str, UnitInfo] = field(default_factory=dict)
    security: tuple[SecurityEvent, ...] | None = ()
    dead_letters: tuple[DeadLetters, ...] = ()
    dead_letter_total: int | None = None

    def totals(self) -> Totals:
        """The headline counts."""
        cs = self.customers
        return Totals(
            customers=len(cs),
            meters=sum(c.meters for c in cs),
            meters_with_problems=sum(len(c.problems) for c in cs),
            missing=sum(c.total("missing") for c in cs),
            estimated=sum(c.total("estimated") for c in cs),
            questionable=sum(c.total("questionable") for c in cs),
            silent_units=sum(len(c.silent) for c in cs),
            not_collected=sum(len(c.uncollected) for c in cs),
            security_events=None if self.security is None else len(self.security),
            collected_late=sum(len(c.not_collected) - len(c.uncollected) for c in cs),
            dead_letters=(
                sum(g.count for g in self.dead_letters)
                if self.dead_letter_total is None
                else self.dead_letter_total
            ),
            unknown_devices=sum(1 for g in self.dead_letters if not g.registered),
        )


@dataclass(frozen=True, slots=True)
class Totals:
    """The report's headline: counts over every customer."""

    customers: int
    meters: int
    meters_with_problems: int
    missing: int
    estimated: int
    questionable: int
    silent_units: int
    not_collected: int
    security_events: int | None
    collected_late: int = 0
    dead_letters: int = 0
    unknown_devices: int = 0


@dataclass(frozen=True, slots=True)
class Cause:
    """One root-cause line: ``meters`` of ``units`` of a customer, with one firmware and
    signal band, and ``slots`` of one ``kind``; ``since`` (local HH:MM) for a gap or a
    silence lasting to the day's end, else ``first`` (the first slot of the kind)."""

    customer: str
    kind: str
    firmware: str | None
    band: str | None
    meters: int
    units: int
    slots: int
    since: str | None = None
    first: str | None = None
    meter: str | None = None  # one meter of the group, for the next step's command
    device: str | None = None
    day: str = ""

    def advice(self) -> str:
        """The likely cause and the next step, as the operator reads them."""
        cause, step = KIND_ADVICE[self.kind]
        if self.kind == "silent" and self.units > 1:
            cause = cause.replace("the unit stopped", "the units stopped")
            step = step.replace("see its certificate", "see their certificates")
            step = step.replace("(it sends", "(a unit sends")
        if self.kind == "missing" and self.units > 1:
            step = step.replace("to ask now:", f"to ask now, for each of the {self.units} units:")
        if self.band is not None and self.band.startswith("weak") and self.kind == "silent":
            cause = f"{cause}, most likely the weak signal"
        slot = self.first or self.since or "HH:MM"
        fields = {"customer": self.customer, "meter": self.meter, "device": self.device}
        return f"likely cause: {cause}; next: {step.format(**fields, day=self.day, slot=slot)}"

    def text(self) -> str:
        """The line as an operator reads it."""
        who = _plural(self.meters, "meter")
        if self.kind == "silent":
            units = _plural(self.units, "silent unit")
            who = f"{units} ({who})" if self.meters else units
        attrs = "".join(
            (
                f", all units on firmware {self.firmware}" if self.firmware else "",
                f", signal {self.band}" if self.band else "",
            )
        )
        what = f"{_plural(self.slots, 'slot')} {KIND_TEXT[self.kind]}"
        if self.kind == "silent":
            heard = f"no reading since {self.since}" if self.since else "no reading all day"
            what = f"{heard}, {what}" if self.slots else heard
        elif self.since:
            what += f" since {self.since}"
        elif self.first:
            what += f", the first at {self.first}"
        return f"{who} of customer {self.customer}{attrs}: {what}"


def signal_band(rsrp_dbm: float | None) -> str | None:
    """The band of a unit's signal: good, fair or weak (None if not reported)."""
    if rsrp_dbm is None:
        return None
    if rsrp_dbm >= GOOD_DBM:
        return f"good (RSRP {GOOD_DBM} dBm or more)"
    if rsrp_dbm >= WEAK_DBM:
        return f"fair (RSRP {WEAK_DBM} to {GOOD_DBM} dBm)"
    return f"weak (RSRP below {WEAK_DBM} dBm)"


def root_causes(report: DailyReport) -> list[Cause]:
    """The report's failures folded into lines, most slots first: per customer, kind of
    failure, unit firmware and signal band. Meters of silent units count as ``silent``."""
    causes = []
    for cq in report.customers:
        groups: dict[tuple[str, str | None, str | None], list[tuple[MeterQuality, int]]] = {}
        for m in cq.problems:
            for kind, slots in m.kinds.items():
                k = "silent" if kind == "missing" and m.device in cq.silent else kind
                groups.setdefault((k, *_unit_key(report, m.device)), []).append((m, slots))
        with_gaps = {m.device for m in cq.problems}
        silent_alone = [d for d in cq.silent if d not in with_gaps]
        for device in silent_alone:  # a silent unit whose meters show no gap: none known
            groups.setdefault(("silent", *_unit_key(report, device)), [])
        for (kind, firmware, band), members in groups.items():
            devices = {m.device for m, _ in members}
            if kind == "silent":
                devices |= {d for d in silent_alone if _unit_key(report, d) == (firmware, band)}
            cause = _cause(cq, kind, firmware, band, members, devices)
            causes.append(replace(cause, day=report.day.isoformat()))
    return sorted(causes, key=lambda c: (-c.slots, -c.units, c.customer, c.kind))


def _cause(
    cq: CustomerQuality,
    kind: str,
    firmware: str | None,
    band: str | None,
    members: list[tuple[MeterQuality, int]],
    devices: set[str],
) -> Cause:
    meters = [m for m, _ in members]
    since = first = None
    if kind == "silent":
        heard = [t for d in devices if (t := cq.silent.get(d)) is not None]
        since = _clock(max(heard), cq.zone) if heard else None
    elif kind == "missing" and all(m.missing_from is not None for m in meters):
        since = cq.labels[min(m.missing_from or 0 for m in meters)]
    elif kind == "missing":
        first = cq.labels[min(m.first_missing or 0 for m in meters)]
    return Cause(
        cq.customer.id,
        kind,
        firmware,
        band,
        len(meters),
        len(devices),
        sum(slots for _, slots in members),
        since,
        first,
        *_example(meters, devices),
    )


def _example(meters: list[MeterQuality], devices: set[str]) -> tuple[str | None, str | None]:
    """A meter of the group and its unit (the first by id), for the next step's command."""
    first = min(meters, key=lambda m: m.meter, default=None)
    return (None, min(devices, default=None)) if first is None else (first.meter, first.device)


def _unit_key(report: DailyReport, device: str) -> tuple[str | None, str | None]:
    unit = report.units.get(device)
    return (None, None) if unit is None else (unit.firmware, signal_band(unit.rsrp_dbm))


def security_lines(events: Sequence[SecurityEvent]) -> list[str]:
    """The day's security events, one line per kind: how many, from which addresses, by whom."""
    lines = []
    by_kind = Counter(e.kind for e in events)
    for kind, count in sorted(by_kind.items(), key=lambda kc: (-kc[1], kc[0])):
        hits = [e for e in events if e.kind == kind]
        line = f"{count} {kind} from {_most(Counter(e.address for e in hits))}"
        whom = Counter(e.who for e in hits if e.who)
        lines.append(f"{line}, by {_most(whom)}" if whom else line)
    return lines


def _most(counts: Counter[str], shown: int = 3) -> str:
    top = [f"{name} ({n})" if n > 1 else name for name, n in counts.most_common(shown)]
    more = len(counts) - shown
    return ", ".join(top) + (f" and {more} more" if more > 0 else "")


def report_due(now: int, at: time, tz: ZoneInfo, last_sent: date | None) -> date | None:
    """The day whose report is due at ``now``: yesterday, once the local clock has passed
    ``at`` today and yesterday's report was not sent yet (a late start still sends it)."""
    local = datetime.fromtimestamp(now, tz)
    if local.time().replace(tzinfo=None) < at:
        return None
    day = local.date() - timedelta(days=1)
    return None if last_sent is not None and last_sent >= day else day


def _clock(t: int, tz: ZoneInfo) -> str:
    return f"{datetime.fromtimestamp(t, tz):%H:%M}"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


# Renderings. The text, the HTML and the CSV say the same, in that order: headline,
# root causes, files, security events, then per customer its worst meters.
CSV_COLUMNS = (
    "customer",
    "device",
    "meter",
    "missing",
    "estimated",
    "questionable",
    "rules",
    "last_reading",
    "last_seen",
    "firmware",
    "rsrp_dbm",
)
SHOWN_METERS = 20  # per customer in the body; the CSV has every meter
_CUSTOMER_HEADER: tuple[str, ...] = ("customer", "meters", "with problems", "missing")
_CUSTOMER_HEADER += ("estimated", "questionable", "silent units", "files not collected")
_METER_HEADER = ("meter", "device", "missing", "estimated", "questionable", "rules", "last reading")


def headline(report: DailyReport) -> list[str]:
    """The counts an operator reads first, as two to three sentences."""
    t = report.totals()
    if t.meters_with_problems == 0 and t.silent_units == 0:
        first = f"Every slot of {_plural(t.meters, 'meter')} was read and passed its checks."
    else:
        first = (
            f"{_plural(t.missing, 'slot')} missing ({t.estimated:,} of them estimated),"
            f" {t.questionable:,} questionable, on {t.meters_with_problems:,} of"
            f" {_plural(t.meters, 'meter')} of {_plural(t.customers, 'customer')}."
        )
    events = (
        "security events not recorded"
        if t.security_events is None
        else _plural(t.security_events, "security event")
    )
    late = f", {t.collected_late:,} collected late" if t.collected_late else ""
    second = (
        f"{_plural(t.silent_units, 'silent unit')},"
        f" {_plural(t.not_collected, 'file')} not collected{late}, {events}."
    )
    if not (t.dead_letters or t.unknown_devices):
        return [first, second]
    third = (
        f"{_plural(t.dead_letters, 'dead letter')}, {_plural(t.unknown_devices, 'unknown device')}."
    )
    return [first, second, third]


def render_text(report: DailyReport, shown: int = SHOWN_METERS) -> str:
    """The report as plain text, for a terminal and the mail's text part."""
    out = [_title(report), _made(report), "", *headline(report), ""]
    for title, items in _sections(report):
        out.append(title)
        for line, note in items or [("none", "")]:
            out += [f"  - {line}", *([f"    {note}"] if note else [])]
        out.append("")
    out += ["By customer", *_text_table(_CUSTOMER_HEADER, _customer_rows(report)), ""]
    for cq, rows, more in _worst_meters(report, shown):
        out += [f"{cq.customer.id} {cq.customer.name}: meters with the most problems"]
        out += [*_text_table(_METER_HEADER, rows), *([f"  {more}"] if more else []), ""]
    return "\n".join(out)


def render_html(report: DailyReport, shown: int = SHOWN_METERS) -> str:
    """The report as an HTML page for mail clients: inline styles only, and a fluid
    layout that a phone shows whole (wide tables scroll within their box)."""
    body = [
        _row(_e(_title(report)), "padding:20px 16px 2px;font-size:20px;font-weight:bold;"),
        _row(_e(_made(report)), "padding:0 16px 12px;font-size:12px;color:#616e7c;"),
        _row(_counters(report), "padding:0 16px 4px;"),
        *(_row(_e(line), "padding:0 16px 4px;") for line in headline(report)),
    ]
    for title, items in _sections(report):
        cells = "".join(
            _row(
                _e(line)
                + (f'<div style="font-size:13px;color:#616e7c;">{_e(note)}</div>' if note else ""),
                f"padding:3px 0 3px 8px;border-left:3px solid #b42318;{_WRAP}",
            )
            for line, note in items
        )
        body += [_heading(title), _row(_table(cells) if items else "none")]
    body += [_heading("By customer"), _row(_html_table(_CUSTOMER_HEADER, _customer_rows(report)))]
    for cq, rows, more in _worst_meters(report, shown):
        body.append(_heading(f"{cq.customer.id} {cq.customer.name}: meters with the most problems"))
        body.append(
            _row(
                _html_table(_METER_HEADER, rows)
                + (f'<p style="margin:6px 0;color:#616e7c;">{_e(more)}</p>' if more else "")
            )
        )
    inner = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        ' style="width:100%;max-width:680px;table-layout:fixed;background:#ffffff;'
        f'font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:20px;color:#1f2933;">{"".join(body)}'
        '<tr><td style="padding:12px 16px;">&nbsp;</td></tr></table>'
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(_title(report))}</title></head>"
        '<body style="margin:0;padding:0;background:#f4f5f7;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        ' style="width:100%;background:#f4f5f7;table-layout:fixed;"><tr>'
        f'<td align="center" style="padding:8px 4px;">{inner}</td></tr></table></body></html>\n'
    )


# A long command or file name breaks where it must rather than widening the page.
_WRAP = "overflow-wrap:anywhere;word-break:break-word;"


def _counters(report: DailyReport) -> str:
    """The headline counts as boxes that wrap to the next line on a narrow screen."""
    t = report.totals()
    counts = [
        (t.missing, "slot missing", "slots missing"),
        (t.estimated, "estimated", "estimated"),
        (t.questionable, "questionable", "questionable"),
        (t.silent_units, "silent unit", "silent units"),
        (t.not_collected, "file not collected", "files not collected"),
        (t.security_events, "security event", "security events"),
        (t.dead_letters, "dead letter", "dead letters"),
        (t.unknown_devices, "unknown device", "unknown devices"),
    ]
    return "".join(
        '<div style="display:inline-block;width:92px;margin:0 4px 8px 0;padding:8px 2px;'
        'border:1px solid #e4e7eb;vertical-align:top;text-align:center;">'
        f'<div style="font-size:22px;line-height:28px;font-weight:bold;color:'
        f'{"#b42318" if n else "#1f2933"};">{"-" if n is None else f"{n:,}"}</div>'
        f'<div style="font-size:12px;line-height:16px;color:#616e7c;">'
        f"{_e(one if n == 1 else many)}</div></div>"
        for n, one, many in counts
    )


def render_csv(report: DailyReport) -> bytes:
    """Every meter with a problem, one row each, as UTF-8 CSV (columns: ``CSV_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for cq in report.customers:
        for m in sorted(cq.problems, key=lambda m: m.meter):
            unit = report.units.get(m.device)
            seen = None if unit is None else unit.last_seen
            writer.writerow(
                (
                    cq.customer.id,
                    m.device,
                    m.meter,
                    m.missing,
                    m.estimated,
                    m.questionable,
                    _rules(m.rules),
                    _local(m.last_reading, cq.zone),
                    "" if seen is None else iso_utc(seen),
                    "" if unit is None or unit.firmware is None else unit.firmware,
                    "" if unit is None or unit.rsrp_dbm is None else f"{unit.rsrp_dbm:g}",
                )
            )
    return buffer.getvalue().encode("utf-8")


Items = list[tuple[str, str]]  # a section's lines, each with a note ("" for none)


def _sections(report: DailyReport) -> list[tuple[str, Items]]:
    def file_line(cq: CustomerQuality, f: NotCollected) -> str:
        due = _local(f.due_at, cq.zone).replace("T", " ")
        return f"customer {cq.customer.id}: {f.file_name} (revision {f.revision}), due {due}"

    missed = [(cq, f) for cq in report.customers for f in cq.not_collected]
    files = [(file_line(cq, f), "") for cq, f in missed if f.collected_at is None]
    late = [
        (f"{file_line(cq, f)}, collected {_local(f.collected_at, cq.zone).replace('T', ' ')}", "")
        for cq, f in missed
        if f.collected_at is not None
    ]
    events = ["not recorded"] if report.security is None else security_lines(report.security)
    return [
        ("What went wrong", [(c.text(), c.advice()) for c in root_causes(report)]),
        ("Files not collected", files),
        *([("Files collected late", late)] if late else []),
        ("Security events", [(e, "") for e in events]),
        ("Unknown devices", [(line, "") for line in unknown_device_lines(report)]),
        ("Dead letters (messages not used)", [(line, "") for line in dead_letter_lines(report)]),
    ]


def unknown_device_lines(report: DailyReport) -> list[str]:
    """The devices not registered that sent messages in the day, and how to add one."""
    tz = ZoneInfo(report.timezone)
    return [
        f"{g.device}: {_plural(g.count, 'message')} not used,"
        f" {'at' if g.count == 1 else 'the last at'} {_clock(g.last_at, tz)};"
        f" if it is one of yours, register it: kenshin devices add {g.device} --customer CUSTOMER"
        for g in report.dead_letters
        if not g.registered
    ]


def dead_letter_lines(report: DailyReport, shown: int = SHOWN_LETTER_GROUPS) -> list[str]:
    """The day's other dead letters, one line per sender with its last reason."""
    tz = ZoneInfo(report.timezone)
    groups = [g for g in report.dead_letters if g.registered]
    lines = [
        f"{'messages naming no device' if g.device is None else f'device {g.device}'}:"
        f" {_plural(g.count, 'message')}, {'at' if g.count == 1 else 'the last at'}"
        f" {_clock(g.last_at, tz)}: {_shortened(g.reason)}"
        for g in groups[:shown]
    ]
    if len(groups) > shown:
        lines.append(f"... and {_plural(len(groups) - shown, 'more sender')}")
    unknown = sum(g.count for g in report.dead_letters if not g.registered)
    if unknown and not groups:
        lines.append(f"only those of unknown devices, above ({unknown:,})")
    t = report.totals()
    counted = sum(g.count for g in report.dead_letters)
    if t.dead_letters > counted:
        lines.append(f"{t.dead_letters:,} in all; the lines count the first {counted:,}")
    if t.dead_letters:
        lines.append("each with its reason: kenshin dead-letters")
    return lines


def _shortened(reason: str, most: int = 160) -> str:
    return reason if len(reason) <= most else reason[: most - 3] + "..."


def _customer_rows(report: DailyReport) -> list[tuple[str, ...]]:
    return [
        (
            cq.customer.id,
            f"{cq.meters:,}",
            f"{len(cq.problems):,}",
            f"{cq.total('missing'):,}",
            f"{cq.total('estimated'):,}",
            f"{cq.total('questionable'):,}",
            f"{len(cq.silent):,}",
            f"{len(cq.uncollected):,}",
        )
        for cq in report.customers
    ]


def _worst_meters(
    report: DailyReport, shown: int
) -> list[tuple[CustomerQuality, list[tuple[str, ...]], str]]:
    """Per customer with problems: its worst meters as rows, and a note of those left out."""
    found = []
    for cq in report.customers:
        if not cq.problems:
            continue
        worst = sorted(cq.problems, key=lambda m: (-m.missing - m.questionable, m.meter))
        rows: list[tuple[str, ...]] = [
            (
                m.meter,
                m.device,
                f"{m.missing:,}",
                f"{m.estimated:,}",
                f"{m.questionable:,}",
                _rules(m.rules),
                _time_of_day(m.last_reading, cq.zone, report.day),
            )
            for m in worst[:shown]
        ]
        more = len(worst) - shown
        found.append((cq, rows, f"... and {more:,} more in the attached CSV" if more > 0 else ""))
    return found


def _text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def _html_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A data table; columns of numbers (and their headers) align right."""
    cell = "padding:4px 6px;border-bottom:1px solid #e4e7eb;font-size:13px;"
    numeric = [
        bool(rows) and all(r[i].replace(",", "").isdigit() for r in rows)
        for i in range(len(header))
    ]
    align = ["right" if n else "left" for n in numeric]
    head = "".join(
        f'<th align="{a}" style="{cell}background:#eef0f3;">{_e(h)}</th>'
        for a, h in zip(align, header, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td align="{a}" style="{cell}white-space:nowrap;">{_e(c)}</td>'
            for a, c in zip(align, r, strict=True)
        )
        + "</tr>"
        for r in rows
    )
    return (  # wider than a phone's screen, it scrolls within its box, not the page
        '<div style="overflow-x:auto;max-width:100%;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        f' style="border-collapse:collapse;"><tr>{head}</tr>{body}</table></div>'
    )


def _table(rows: str) -> str:
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        f' style="border-collapse:collapse;">{rows}</table>'
    )


def _row(content: str, style: str = "padding:0 16px;") -> str:
    return f'<tr><td style="{style}">{content}</td></tr>'


def _heading(title: str) -> str:
    return _row(_e(title), "padding:18px 16px 6px;font-size:16px;font-weight:bold;")


def _title(report: DailyReport) -> str:
    return f"kenshin data quality of {report.day:%A} {report.day.isoformat()}"


def _made(report: DailyReport) -> str:
    made = datetime.fromtimestamp(report.made_at, ZoneInfo(report.timezone))
    return f"made {made:%Y-%m-%d %H:%M} {report.timezone}"


def _rules(rules: Mapping[str, int]) -> str:
    return " ".join(f"{name}:{n}" for name, n in rules.items())


def _local(t: int | None, tz: ZoneInfo) -> str:
    return "" if t is None else datetime.fromtimestamp(t, tz).isoformat(timespec="minutes")


def _time_of_day(t: int | None, tz: ZoneInfo, day: date) -> str:
    """Local HH:MM of ``t`` on ``day``; its end, the next midnight, is 24:00."""
    if t is None:
        return "none"
    local = datetime.fromtimestamp(t, tz)
    return "24:00" if local.date() > day else f"{local:%H:%M}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
