"""The daily report's renderings: plain text, the HTML mail and the CSV detail.

The text, the HTML and the CSV say the same, in that order: headline, root causes,
files, security events, then per customer its worst meters. The HTML is laid out for
mail clients and phones: inline styles only, a fluid layout, wide tables that scroll
within their box.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kenshin.domain.csvcells import defused
from kenshin.domain.model import SecurityEvent
from kenshin.domain.report import (
    CustomerQuality,
    DailyReport,
    NotCollected,
    local_clock,
    plural,
    root_causes,
)
from kenshin.domain.report_spread import spread_lines
from kenshin.domain.slots import iso_utc

SHOWN_LETTER_GROUPS = 10  # dead-letter lines in the body; 'kenshin dead-letters' has all
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
    """The counts an operator reads first, in two to four sentences (last: the spread)."""
    t = report.totals()
    if t.meters_with_problems == 0 and t.silent_units == 0:
        first = f"Every slot of {plural(t.meters, 'meter')} was read and passed its checks."
    else:
        first = (
            f"{plural(t.missing, 'slot')} missing ({t.estimated:,} of them estimated),"
            f" {t.questionable:,} questionable, on {t.meters_with_problems:,} of"
            f" {plural(t.meters, 'meter')} of {plural(t.customers, 'customer')}."
        )
    events = (
        "security events not recorded"
        if t.security_events is None
        else plural(t.security_events, "security event")
    )
    late = f", {t.collected_late:,} collected late" if t.collected_late else ""
    second = (
        f"{plural(t.silent_units, 'silent unit')},"
        f" {plural(t.not_collected, 'file')} not collected{late}, {events}."
    )
    letters = (
        f"{plural(t.dead_letters, 'dead letter')}, {plural(t.unknown_devices, 'unknown device')}."
    )
    third = [letters] if t.dead_letters or t.unknown_devices else []
    return [first, second, *third, *spread_lines(report.arrivals)]


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
    """Every meter with a problem, one row each, as UTF-8 CSV (columns: ``CSV_COLUMNS``),
    a text cell a spreadsheet would take for a formula begun with ``'``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for cq in report.customers:
        for m in sorted(cq.problems, key=lambda m: m.meter):
            unit = report.units.get(m.device)
            seen = None if unit is None else unit.last_seen
            writer.writerow(
                (
                    defused(cq.customer.id),  # ids and firmware chosen by units and people
                    defused(m.device),
                    defused(m.meter),
                    m.missing,
                    m.estimated,
                    m.questionable,
                    _rules(m.rules),
                    _local(m.last_reading, cq.zone),
                    "" if seen is None else iso_utc(seen),
                    "" if unit is None or unit.firmware is None else defused(unit.firmware),
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
        f"{g.device}: {plural(g.count, 'message')} not used,"
        f" {'at' if g.count == 1 else 'the last at'} {local_clock(g.last_at, tz)};"
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
        f" {plural(g.count, 'message')}, {'at' if g.count == 1 else 'the last at'}"
        f" {local_clock(g.last_at, tz)}: {_shortened(g.reason)}"
        for g in groups[:shown]
    ]
    if len(groups) > shown:
        lines.append(f"... and {plural(len(groups) - shown, 'more sender')}")
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
