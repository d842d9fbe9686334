"""The report's HTML on a phone: laid out by headless Chromium on a screen 400 px wide,
nothing runs off the side (a wide table scrolls within its own box), and the page
can be looked at as a screenshot.

Headless Chromium keeps its window at least 500 px wide, so the mail is shown in a
frame 400 px wide, as a phone's mail app shows it, and measured there."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from kenshin.domain.model import Customer
from kenshin.domain.report import DailyReport, DeadLetters
from kenshin.domain.report_render import render_html
from report.test_domain import fleet_report, one_of_each

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian's chromium)"),
]
PHONE = 400  # px


def frame(page: str, width: int = PHONE) -> str:
    """A page showing ``page`` in a frame ``width`` px wide; once loaded it writes the
    width of the frame's page and of its screen (less a scroll bar, if one shows) into
    its body's ``data-width``."""
    measure = (
        'window.addEventListener("load", () => {'
        ' const mail = document.getElementById("mail").contentDocument;'
        " const sizes = [mail.documentElement.scrollWidth, mail.documentElement.clientWidth];"
        ' document.body.setAttribute("data-width", sizes.join("x")); });'
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0;">'
        f'<iframe id="mail" width="{width}" height="3000" style="border:0;display:block;"'
        f' srcdoc="{html.escape(page, quote=True)}"></iframe>'
        f"<script>{measure}</script></body></html>"
    )


def chromium(folder: Path, *args: str) -> str:
    """Run headless Chromium with its own profile in ``folder``; its standard output."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={folder / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


def widths_on_a_phone(page: str, folder: Path) -> tuple[int, int]:
    """How wide ``page`` is laid out on a phone's screen, and how wide the screen is."""
    harness = folder / "phone.html"
    harness.write_text(frame(page), encoding="utf-8")
    dom = chromium(
        folder,
        "--window-size=500,3000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        harness.as_uri(),
    )
    found = re.search(r'data-width="(\d+)x(\d+)"', dom)
    assert found, dom[-2000:]
    return int(found[1]), int(found[2])


def long_report() -> DailyReport:
    """The fleet's report with what stretches a page: a customer name and a reason with
    no room to break, and many senders of dead letters."""
    report = fleet_report()
    first = report.customers[0]
    wide = replace(first, customer=Customer("ACME", "Acme-Power-and-Light-Kabushiki-Kaisha" * 3))
    letters = tuple(
        DeadLetters(f"U-{i:06d}", 40 - i, "x" * 150, 1_795_600_000 + i, registered=i % 2 == 0)
        for i in range(14)
    )
    return replace(report, customers=(wide, *report.customers[1:]), dead_letters=letters)


@pytest.mark.parametrize("report", [fleet_report, one_of_each, long_report])
def test_the_mail_fits_a_phone_screen(report: object, tmp_path: Path) -> None:
    assert callable(report)
    page, screen = widths_on_a_phone(render_html(report(), shown=20), tmp_path)
    assert PHONE - 20 <= screen <= PHONE
    assert page <= screen


def test_a_screenshot_of_the_mail_on_a_phone(tmp_path: Path) -> None:
    harness = tmp_path / "phone.html"
    harness.write_text(frame(render_html(long_report(), shown=5)), encoding="utf-8")
    shot = tmp_path / "phone.png"
    chromium(
        tmp_path,
        "--hide-scrollbars",
        "--window-size=500,2400",
        f"--screenshot={shot}",
        harness.as_uri(),
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
