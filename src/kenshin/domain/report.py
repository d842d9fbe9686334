"""The daily data-quality report: what it holds, its root-cause lines, and when it is due.

A report covers one local day: per customer, the meters with missing, estimated or
questionable slots and the rules that fired on them, the silent units, the files not
collected, and the day's security events. ``root_causes`` folds the meters into a few
lines, one per customer, kind of failure, unit firmware and signal band, so that one
cause reads as one line however many meters it hit. The renderings (text, HTML, CSV)
are in ``domain.report_render``.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    """A final daily file its customer had not collected when it was due (UTC epoch s)."""

    day: str
    file_name: str
    revision: int
    due_at: int


@dataclass(frozen=True)
class CustomerQuality:
    """One customer's day: its slot labels, how many meters it has, the meters with a
    problem, its silent units (with their last reading of the day), files not collected."""

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


@dataclass(frozen=True)
class DailyReport:
    """The report of local ``day``, made at ``made_at`` (UTC epoch s) in ``timezone``.
    ``security`` is None where the day's security events are not known."""

    day: date
    made_at: int
    timezone: str
    customers: tuple[CustomerQuality, ...]
    units: Mapping[str, UnitInfo] = field(default_factory=dict)
    security: tuple[SecurityEvent, ...] | None = ()

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
            not_collected=sum(len(c.not_collected) for c in cs),
            security_events=None if self.security is None else len(self.security),
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
            causes.append(_cause(cq, kind, firmware, band, members, devices))
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
    )


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
    """The counts an operator reads first, as two or three sentences."""
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
    second = (
        f"{_plural(t.silent_units, 'silent unit')},"
        f" {_plural(t.not_collected, 'file')} not collected, {events}."
    )
    return [first, second]


def render_text(report: DailyReport, shown: int = SHOWN_METERS) -> str:
    """The report as plain text, for a terminal and the mail's text part."""
    out = [_title(report), _made(report), "", *headline(report), ""]
    for title, lines in _sections(report):
        out += [title, *(f"  - {line}" for line in lines or ["none"]), ""]
    out += ["By customer", *_text_table(_CUSTOMER_HEADER, _customer_rows(report)), ""]
    for cq, rows, more in _worst_meters(report, shown):
        out += [f"{cq.customer.id} {cq.customer.name}: meters with the most problems"]
        out += [*_text_table(_METER_HEADER, rows), *([f"  {more}"] if more else []), ""]
    return "\n".join(out)


def render_html(report: DailyReport, shown: int = SHOWN_METERS) -> str:
    """The report as an HTML page for mail clients: nested tables, inline styles only."""
    t = report.totals()
    counts = [
        ("slots missing", t.missing),
        ("estimated", t.estimated),
        ("questionable", t.questionable),
        ("silent units", t.silent_units),
        ("files not collected", t.not_collected),
        ("security events", t.security_events),
    ]
    cells = "".join(
        f'<td align="center" style="padding:8px 4px;border:1px solid #e4e7eb;">'
        f'<div style="font-size:22px;line-height:28px;font-weight:bold;color:'
        f'{"#b42318" if n else "#1f2933"};">{"-" if n is None else f"{n:,}"}</div>'
        f'<div style="font-size:12px;color:#616e7c;">{_e(label)}</div></td>'
        for label, n in counts
    )
    body = [
        _row(_e(_title(report)), "padding:20px 24px 2px;font-size:20px;font-weight:bold;"),
        _row(_e(_made(report)), "padding:0 24px 12px;font-size:12px;color:#616e7c;"),
        _row(_table(f"<tr>{cells}</tr>"), "padding:0 24px 12px;"),
        *(_row(_e(line), "padding:0 24px 4px;") for line in headline(report)),
    ]
    for title, lines in _sections(report):
        items = "".join(
            _row(_e(x), "padding:3px 0 3px 8px;border-left:3px solid #b42318;") for x in lines
        )
        body += [_heading(title), _row(_table(items) if lines else "none", "padding:0 24px;")]
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
        '<table role="presentation" width="680" cellpadding="0" cellspacing="0" border="0"'
        ' style="width:680px;max-width:100%;background:#ffffff;font-family:Arial,Helvetica,'
        f'sans-serif;font-size:14px;line-height:20px;color:#1f2933;">{"".join(body)}'
        '<tr><td style="padding:12px 24px;">&nbsp;</td></tr></table>'
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(_title(report))}</title></head>"
        '<body style="margin:0;padding:0;background:#f4f5f7;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        ' style="background:#f4f5f7;"><tr><td align="center" style="padding:16px 8px;">'
        f"{inner}</td></tr></table></body></html>\n"
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


def _sections(report: DailyReport) -> list[tuple[str, list[str]]]:
    files = [
        f"customer {cq.customer.id}: {f.file_name} (revision {f.revision}),"
        f" due {_local(f.due_at, cq.zone).replace('T', ' ')}"
        for cq in report.customers
        for f in cq.not_collected
    ]
    events = ["not recorded"] if report.security is None else security_lines(report.security)
    return [
        ("What went wrong", [c.text() for c in root_causes(report)]),
        ("Files not collected", files),
        ("Security events", events),
    ]


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
            f"{len(cq.not_collected):,}",
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
            f'<td align="{a}" style="{cell}">{_e(c)}</td>' for a, c in zip(align, r, strict=True)
        )
        + "</tr>"
        for r in rows
    )
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        f' style="border-collapse:collapse;"><tr>{head}</tr>{body}</table>'
    )


def _table(rows: str) -> str:
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        f' style="border-collapse:collapse;">{rows}</table>'
    )


def _row(content: str, style: str = "padding:0 24px;") -> str:
    return f'<tr><td style="{style}">{content}</td></tr>'


def _heading(title: str) -> str:
    return _row(_e(title), "padding:18px 24px 6px;font-size:16px;font-weight:bold;")


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
