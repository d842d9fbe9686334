"""The report's line on how the day's messages spread over the half hour."""

from __future__ import annotations

from datetime import date

from kenshin.domain.report import DailyReport
from kenshin.domain.report_render import render_html, render_text
from kenshin.domain.report_spread import arrival_spread, render_spread_csv, spread_lines
from kenshin.domain.spread import report_offset_s

START = 1_795_705_200  # a local midnight, a half-hour boundary


def test_units_at_the_boundary_put_every_message_in_the_first_minute() -> None:
    sent = [(f"M-{i}", START + 1800 * j + 5 + i % 30) for i in range(10) for j in range(48)]
    spread = arrival_spread(sent, START, 10)
    assert spread_lines(spread) == [
        "Arrivals spread over the half hour: the busiest minute holds 100 % of 480 messages"
        " (of 10 meters); per 5 minutes :00-04 100 %, :05-09 0 %, :10-14 0 %, :15-19 0 %,"
        " :20-24 0 %, :25-29 0 %."
    ]


def test_spread_units_share_the_half_hour_evenly() -> None:
    sent = [
        (f"M-{i}", START + 1800 * j + report_offset_s(f"U-{i}"))
        for i in range(3000)
        for j in range(2)
    ]
    spread = arrival_spread(sent, START, 3000)
    assert spread.busiest_share() < 100 / 30 * 1.3
    assert all(15 <= share <= 19 for _, _, share in spread.bins())


def test_readings_of_one_message_count_once_and_unknown_times_not_at_all() -> None:
    spread = arrival_spread([("M-1", START + 70), ("M-1", START + 70), ("M-2", 0)], START, 2)
    assert (spread.total, spread.per_minute[1]) == (1, 1)
    assert render_spread_csv(spread).decode().splitlines()[:2] == [
        "minutes,messages,share_percent",
        "00-04,1,100.0",
    ]


def test_the_line_shows_in_text_and_html_and_not_without_times() -> None:
    spread = arrival_spread([("M-1", START + 1500)], START, 1)
    report = DailyReport(date(2026, 11, 26), START + 86_400, "Asia/Tokyo", (), arrivals=spread)
    assert "busiest minute holds 100 % of 1 message (of 1 meter)" in render_text(report)
    assert ":25-29 100 %" in render_html(report)
    assert spread_lines(arrival_spread([], START, 0)) == []
