"""The report's pure parts: root-cause lines, the renderings, and when the report is due."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time

from kenshin.domain.model import Customer, SecurityEvent
from kenshin.domain.report import (
    CustomerQuality,
    DailyReport,
    DeadLetters,
    MeterQuality,
    NotCollected,
    UnitInfo,
    report_due,
    root_causes,
)
from kenshin.domain.report_render import render_csv, render_html, render_text, security_lines
from kenshin.domain.slots import day_slots, day_start, slot_labels, zone
from kenshin.services.report import report_subject

DAY = date(2026, 11, 26)
TOKYO = zone("Asia/Tokyo")
LABELS = tuple(slot_labels(day_slots(DAY, TOKYO), TOKYO))
START = day_start(DAY, TOKYO)


def gap(meter: str, device: str, slots: int, since: int | None, first: int) -> MeterQuality:
    """A meter with ``slots`` missing, all estimated; to the day's end from ``since``."""
    kinds = {"missing": slots}
    last = None if since is None else START + since * 1800
    return MeterQuality(meter, device, slots, slots, 0, kinds, kinds, first, since, last)


def spike(meter: str, device: str) -> MeterQuality:
    rules = {"spike": 1, "high": 1}
    return MeterQuality(meter, device, 0, 0, 1, rules, {"spike": 1}, last_reading=START + 86400)


def fleet_report() -> DailyReport:
    """ACME: 37 units on firmware 1.4.2 lost their data from 03:00 (one from 05:00) and
    two units on 1.5.0 saw a spike; BETA: one meter with a gap mid-day, unit unknown."""
    acme = Customer("ACME", "Acme <Power> & Light")
    old = [gap(f"M-{i:03d}", f"U-{i:03d}", 42, 6, 6) for i in range(36)]
    old.append(gap("M-036", "U-036", 38, 10, 10))
    new = [spike("M-100", "U-100"), spike("M-101", "U-101")]
    beta = Customer("BETA", "Beta")
    units = [UnitInfo(f"U-{i:03d}", "ACME", "1.4.2", -98, START + 10_000) for i in range(37)]
    units += [UnitInfo("U-100", "ACME", "1.5.0"), UnitInfo("U-101", "ACME", "1.5.0")]
    late = NotCollected("2026-11-24", "ACME_20261124.csv", 2, START - 86400 + 12 * 3600)
    return DailyReport(
        DAY,
        START + 86400 + 8 * 3600,
        "Asia/Tokyo",
        (
            CustomerQuality(acme, LABELS, 1200, (*old, *new), {}, (late,)),
            CustomerQuality(beta, LABELS, 3, (gap("B<1>", "V-1", 4, None, 24),), {"V-2": None}),
        ),
        {u.device: u for u in units},
        (
            SecurityEvent("login_failed", START + 100, "203.0.113.5", "acme"),
            SecurityEvent("login_failed", START + 200, "203.0.113.5", "acme"),
            SecurityEvent("login_failed", START + 300, "198.51.100.7"),
            SecurityEvent("tls_certificate_refused", START + 400, "192.0.2.1:5000", "U-9"),
        ),
    )


def test_one_root_cause_reads_as_one_line() -> None:
    assert [c.text() for c in root_causes(fleet_report())] == [
        "37 meters of customer ACME, all units on firmware 1.4.2, signal fair"
        " (RSRP -105 to -90 dBm): 1,550 slots missing since 03:00",
        "1 meter of customer BETA: 4 slots missing, the first at 12:00",
        "2 meters of customer ACME, all units on firmware 1.5.0: 2 slots with a spike far"
        " above the meter's peak",
        "1 silent unit of customer BETA: no reading all day",
    ]


def test_security_events_fold_by_kind_address_and_who() -> None:
    assert security_lines(fleet_report().security or ()) == [
        "3 login_failed from 203.0.113.5 (2), 198.51.100.7, by acme (2)",
        "1 tls_certificate_refused from 192.0.2.1:5000, by U-9",
    ]


def test_text_puts_the_headline_and_causes_first() -> None:
    lines = render_text(fleet_report()).splitlines()
    assert lines[:5] == [
        "kenshin data quality of Thursday 2026-11-26",
        "made 2026-11-27 08:00 Asia/Tokyo",
        "",
        "1,554 slots missing (1,554 of them estimated), 2 questionable, on 40 of 1,203 meters"
        " of 2 customers.",
        "1 silent unit, 1 file not collected, 4 security events.",
    ]
    assert lines[6] == "What went wrong"
    assert "  - customer ACME: ACME_20261124.csv (revision 2), due 2026-11-25 12:00+09:00" in lines
    assert "ACME Acme <Power> & Light: meters with the most problems" in lines
    assert "  ... and 19 more in the attached CSV" in render_text(fleet_report(), shown=20)
    assert render_text(fleet_report()).endswith(
        "\n  B<1>   V-1     4        4          0             missing:4  none\n"
    )
    assert "  M-000  U-000   42       42         0             missing:42  03:00" in lines


def test_html_is_escaped_inline_styled_and_says_what_the_text_says() -> None:
    page = render_html(fleet_report())
    assert "Acme &lt;Power&gt; &amp; Light" in page
    assert "B&lt;1&gt;" in page
    assert "<Power>" not in page
    assert "B<1>" not in page
    assert "<style" not in page
    assert "class=" not in page
    assert "37 meters of customer ACME, all units on firmware 1.4.2" in page
    numbers = '<td align="right" style="padding:4px 6px;border-bottom:1px solid #e4e7eb;'
    assert f'{numbers}font-size:13px;white-space:nowrap;">1,550</td>' in page  # ACME's missing
    assert page.count("<table") == page.count("</table>")
    assert page.count("<tr") == page.count("</tr>")


def test_csv_rows_are_the_meters_with_problems_in_order() -> None:
    report = DailyReport(
        DAY,
        START,
        "Asia/Tokyo",
        (
            CustomerQuality(
                Customer("C, 1", "x"),
                LABELS,
                5,
                (spike("M-2", "U-2"), gap("M-1", "U-1", 3, 45, 45)),
            ),
        ),
        {"U-2": UnitInfo("U-2", "C, 1", "2.0", -101.5, START + 61)},
    )
    assert render_csv(report) == (
        b"customer,device,meter,missing,estimated,questionable,rules,last_reading,last_seen,"
        b"firmware,rsrp_dbm\r\n"
        b'"C, 1",U-1,M-1,3,3,0,missing:3,2026-11-26T22:30+09:00,,,\r\n'
        b'"C, 1",U-2,M-2,0,0,1,spike:1 high:1,2026-11-27T00:00+09:00,2026-11-25T15:01:01Z,'
        b"2.0,-101.5\r\n"
    )


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_the_report_is_due_once_a_day_at_its_local_time_on_a_fast_clock() -> None:
    sent: list[tuple[str, date]] = []
    last: date | None = date(2026, 11, 25)
    for now in range(utc("2026-11-26T00:00:00"), utc("2026-11-28T22:00:00"), 300):
        day = report_due(now, time(8, 0), TOKYO, last)
        if day is not None:
            sent.append((datetime.fromtimestamp(now, TOKYO).isoformat(), day))
            last = day
    assert sent == [
        ("2026-11-27T08:00:00+09:00", date(2026, 11, 26)),
        ("2026-11-28T08:00:00+09:00", date(2026, 11, 27)),
    ]


def test_a_late_start_sends_yesterdays_report_at_once_and_only_once() -> None:
    ten = utc("2026-11-27T01:00:00")  # 10:00 in Tokyo
    assert report_due(ten, time(8, 0), TOKYO, None) == date(2026, 11, 26)
    assert report_due(ten, time(8, 0), TOKYO, date(2026, 11, 26)) is None
    assert report_due(ten - 3 * 3600, time(8, 0), TOKYO, None) is None  # 07:00: not yet


def test_a_time_the_clocks_skip_is_reached_when_they_jump() -> None:
    berlin = zone("Europe/Berlin")  # 02:00 became 03:00 on 2026-03-29
    times = range(utc("2026-03-29T00:00:00"), utc("2026-03-29T03:00:00"), 600)
    due = [t for t in times if report_due(t, time(2, 30), berlin, date(2026, 3, 27))]
    assert datetime.fromtimestamp(due[0], berlin).isoformat() == "2026-03-29T03:00:00+02:00"


def visible(page: str) -> str:
    """The words an HTML page shows, tags taken out and spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def one_of_each() -> DailyReport:
    """One of everything: a meter with one slot missing, one silent unit, one file not
    collected and one collected late, one security event, one dead letter of an unknown
    device."""
    customer = Customer("C1", "One")
    due = START + 12 * 3600  # 12:00 the day after the file's day
    files = (
        NotCollected("2026-11-24", "C1_20261124.csv", 1, due - 86400),
        NotCollected("2026-11-25", "C1_20261125.csv", 1, due, collected_at=due + 5400),
    )
    quality = CustomerQuality(
        customer, LABELS, 1, (gap("M-1", "U-1", 1, None, 20),), {"U-1": START + 3600}, files
    )
    letter = DeadLetters("U-404", 1, "unknown device 'U-404'", START + 7200, registered=False)
    event = SecurityEvent("login_failed", START + 100, "203.0.113.5", "C1")
    return DailyReport(
        DAY, START + 86400 + 8 * 3600, "Asia/Tokyo", (quality,), {}, (event,), (letter,)
    )


def test_one_of_anything_reads_in_the_singular_everywhere() -> None:
    report = one_of_each()
    plural = re.compile(
        r"(?<![\d,.])1 (slots|meters|customers|silent units|files|security events"
        r"|dead letters|unknown devices|messages)\b"
    )
    for shown in (render_text(report), visible(render_html(report)), report_subject(report)):
        assert plural.search(shown) is None, plural.search(shown)
        assert "1 silent unit" in shown
        assert "1 file not collected" in shown
    assert report_subject(report) == (
        "kenshin data quality 2026-11-26: 1 slot missing, 0 questionable, 1 silent unit,"
        " 1 file not collected, 1 dead letter"
    )
    text = render_text(report).splitlines()
    assert text[4:6] == [
        "1 silent unit, 1 file not collected, 1 collected late, 1 security event.",
        "1 dead letter, 1 unknown device.",
    ]
    late = text.index("Files collected late")
    assert text[late + 1] == (
        "  - customer C1: C1_20261125.csv (revision 1), due 2026-11-26 12:00+09:00,"
        " collected 2026-11-26 13:30+09:00"
    )
    assert "C1_20261125.csv" not in text[text.index("Files not collected") + 1]


def test_each_root_cause_says_its_likely_cause_and_the_next_step() -> None:
    customer = Customer("C1", "One")
    conflict = MeterQuality("M-7", "U-7", 0, 0, 2, {"conflict": 2}, {"conflict": 2})
    negative = MeterQuality("M-8", "U-8", 0, 0, 1, {"negative": 1}, {"negative": 1})
    quality = CustomerQuality(
        customer,
        LABELS,
        9,
        (gap("M-1", "U-1", 4, None, 20), conflict, negative, gap("M-2", "U-2", 10, 38, 38)),
        {"U-2": START + 18 * 3600},
    )
    report = DailyReport(DAY, START + 86400, "Asia/Tokyo", (quality,))
    text = render_text(report).splitlines()

    def advice(line: str) -> str:
        return text[text.index(line) + 1]

    assert advice(
        "  - 1 silent unit (1 meter) of customer C1: no reading since 18:00, 10 slots missing"
    ) == (
        "    likely cause: the unit stopped sending (power, signal, or a certificate expired"
        " or revoked); next: see its certificate with 'kenshin devices list --customer C1',"
        " then power and signal on site (it sends what it kept once it is back)"
    )
    assert advice("  - 1 meter of customer C1: 4 slots missing, the first at 10:00") == (
        "    likely cause: readings did not arrive (a unit offline for a while, or messages"
        " lost); next: the server asks for gaps by itself; to ask now: 'kenshin devices resend"
        " U-1 --from 2026-11-26T10:00 --to 2026-11-26T23:30'"
    )
    assert advice("  - 1 meter of customer C1: 2 slots with conflicting readings") == (
        "    likely cause: a unit sent readings again with other values (its memory or clock"
        " was reset, or two units report one meter); next: 'kenshin conflicts' lists them,"
        " the value kept and the other"
    )
    assert advice("  - 1 meter of customer C1: 1 slot where the register went backwards") == (
        "    likely cause: a meter exchange (or a reset of the register); next: 'kenshin"
        ' explain M-8 --slot "2026-11-26 HH:MM"\' shows its readings; if it was exchanged,'
        " record when: 'kenshin meters service M-8 --removed TIME'"
    )
    assert "kenshin conflicts" in visible(render_html(report))


def test_a_unit_silent_since_an_earlier_day_says_since_when_with_the_date() -> None:
    customer = Customer("C1", "One")
    quality = CustomerQuality(
        customer,
        LABELS,
        9,
        (gap("M-2", "U-2", 48, 0, 0),),
        {"U-2": START - 2 * 86400 + 18 * 3600},
    )
    report = DailyReport(DAY, START + 86400, "Asia/Tokyo", (quality,))
    assert "  - 1 silent unit (1 meter) of customer C1: no reading since 2026-11-24 18:00," in (
        render_text(report)
    )
