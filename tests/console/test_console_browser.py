"""The console in a real browser (Debian's chromium driven by Playwright) on the real
admin API and the site of ``real_site.py`` (20 meters on five units through the real
ingest, U-104 silent, a VEE-estimated gap on M-0102 yesterday): sign in with password and
TOTP, the overview with one silent unit, the heatmap of the day with the gap showing E
where the file has them and a slot explained, a meter's curves of the day and the week
with the estimated slots hatched, a revoke by an operator (audited) and refused to a
viewer (a security event), the Japanese labels. A screenshot of each page is kept in
``CONSOLE_SCREENSHOTS`` (default: the test's own folder)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from kenshin.bootstrap import App
from kenshin.domain.model import SecurityEvent
from kenshin.domain.slots import zone

from .real_site import CUSTOMER, GAP_METER, PASSWORD, SILENT, TOKYO, code, open_site

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = "CONSOLE_SCREENSHOTS"  # not KENSHIN_*: those are read as settings
REVOKED = "U-103"  # the unit the operator revokes (and the viewer may not)


@dataclass(frozen=True)
class Site:
    app: App
    base: str
    day: date  # yesterday in Tokyo: the day with the gap
    shots: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real site (built in about 0.6 s), served with its security events kept."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian's package)")
    root = tmp_path_factory.mktemp("browser")
    now = int(time.time())
    day = datetime.fromtimestamp(now, zone(TOKYO)).date() - timedelta(days=1)
    shots = Path(os.environ.get(ARTIFACTS, root / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with open_site(root / "site", now) as (app, base):
        yield Site(app, base, day, shots)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _signed_in(browser: Browser, site: Site, name: str) -> tuple[BrowserContext, Page]:
    """A browser of its own (cookies, language) where ``name`` signed in through the page."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en", timezone_id=TOKYO
    )
    page = context.new_page()
    page.goto(f"{site.base}/#/overview")
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(PASSWORD)
    if found := code(name):
        page.get_by_test_id("signin-code").fill(found)
    page.screenshot(path=site.shots / f"signin-{name}.png")
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("page-overview").wait_for()
    return context, page


@pytest.fixture(scope="module")
def operator(browser: Browser, site: Site) -> Iterator[Page]:
    """The operator, signed in with password and TOTP code (a code is good once: one
    sign-in for the module)."""
    context, page = _signed_in(browser, site, "operator")
    yield page
    context.close()


def _open(page: Page, site: Site, route: str) -> None:
    page.goto(f"{site.base}/#/{route}")
    name = route.split("?")[0].split("/")[0]
    page.locator(f"main[data-ready][data-route={name}]").wait_for()


def _file_flags(site: Site) -> dict[tuple[str, str], str]:
    """The flag cell (the last) of each register's row in the day's CSV file in the outbox."""
    text = site.app.outbox.read(CUSTOMER, f"{CUSTOMER}_{site.day:%Y%m%d}.csv")
    assert text is not None
    rows = [line.split(",") for line in text.decode().splitlines()[1:] if line]
    return {(row[0], row[2]): row[-1] for row in rows}


def test_an_operator_signs_in_and_sees_one_unit_silent(operator: Page, site: Site) -> None:
    page = operator
    assert page.get_by_test_id("session-name").inner_text() == "operator"
    assert page.get_by_test_id("session-role").inner_text() == "Operator"
    assert page.get_by_test_id("overview-silent-value").inner_text() == "1"
    assert page.get_by_test_id("overview-never-seen-value").inner_text() == "1"
    assert page.get_by_test_id("overview-total-value").inner_text() == "5"
    page.screenshot(path=site.shots / "overview.png", full_page=True)

    _open(page, site, "devices")
    row = page.locator(f"[data-testid=devices-table] tr[data-key={SILENT}]")
    assert row.get_by_test_id("device-status").inner_text() == "Silent"
    statuses = page.get_by_test_id("device-status").all_inner_texts()
    assert statuses.count("Silent") == 1
    page.screenshot(path=site.shots / "devices.png", full_page=True)


def test_the_heatmap_shows_the_files_flags_and_explains_an_estimate(
    operator: Page, site: Site
) -> None:
    page = operator
    _open(page, site, f"quality?customer={CUSTOMER}&date={site.day}")
    cells = page.get_by_test_id("heat-cell").evaluate_all(
        "cells => cells.map(c => [c.dataset.meter, c.dataset.direction, c.dataset.flag])"
    )
    shown: dict[tuple[str, str], str] = {}
    for meter, direction, flag in cells:
        shown[meter, direction] = shown.get((meter, direction), "") + flag
    flags = _file_flags(site)
    assert shown == flags
    assert "E" in flags[GAP_METER, "fwd"]
    assert [key for key, value in flags.items() if "E" in value] == [(GAP_METER, "fwd")]

    slot = "09:30"
    assert flags[GAP_METER, "fwd"][19] == "E"  # 09:30 is slot 19 (Tokyo keeps no DST)
    page.locator(
        f"[data-testid=heat-cell][data-meter={GAP_METER}][data-direction=fwd][data-slot='{slot}']"
    ).click()
    panel = page.get_by_test_id("explain-panel")
    panel.get_by_test_id("explain-rows").wait_for()
    answer = page.evaluate(
        "async (url) => (await fetch(url)).json()",
        f"/api/v1/meters/{GAP_METER}/explain?slot={site.day}T{slot}",
    )
    (row,) = [r for r in answer["rows"] if r["direction"] == "fwd"]
    assert row["flag"] == "E"
    assert any(r.startswith("estimated by") for r in row["reasons"]), row["reasons"]
    heading = panel.locator("h2").inner_text()
    assert GAP_METER in heading
    assert f"{site.day} {slot}" in heading
    rows = panel.get_by_test_id("explain-rows").inner_text()
    for reason in row["reasons"]:
        assert reason in rows
    assert row["kwh"] in rows
    page.screenshot(path=site.shots / "quality.png", full_page=True)


def _estimated(page: Page, chart: str) -> tuple[int, list[int], list[str]]:
    """The chart's number of bars, the indexes of its E bars, and their fills."""
    count, indexes, fills = (
        page.get_by_test_id(chart)
        .get_by_test_id("bar")
        .evaluate_all(
            """bars => [bars.length,
                bars.flatMap((b, i) => b.dataset.flag === 'E' ? [i] : []),
                bars.filter(b => b.dataset.flag === 'E').map(b => b.getAttribute('fill'))]"""
        )
    )
    return int(count), list(indexes), list(fills)


def test_a_meters_curves_mark_the_estimated_slots(operator: Page, site: Site) -> None:
    page = operator
    flags = _file_flags(site)[GAP_METER, "fwd"]
    estimated = [i for i, flag in enumerate(flags) if flag == "E"]
    _open(page, site, f"meters/{GAP_METER}?date={site.day}")

    count, day_e, fills = _estimated(page, "meter-day-chart")
    assert count == 48
    assert day_e == estimated
    assert set(fills) == {"url(#hatch-meter-day-chart)"}

    count, week_e, fills = _estimated(page, "meter-week-chart")
    assert count == 7 * 48  # the week to the day: the day is the last of seven
    assert week_e == [6 * 48 + i for i in estimated]
    assert set(fills) == {"url(#hatch-meter-week-chart)"}
    page.screenshot(path=site.shots / "meter.png", full_page=True)


def test_an_operator_revokes_a_unit_and_the_audit_log_has_it(operator: Page, site: Site) -> None:
    page = operator
    _open(page, site, "devices")
    row = page.locator(f"[data-testid=devices-table] tr[data-key={REVOKED}]")
    row.get_by_test_id("device-revoke").click()
    dialog = page.get_by_test_id("confirm-dialog")
    assert REVOKED in dialog.inner_text()
    page.get_by_test_id("confirm-ok").click()
    expect(row.get_by_test_id("device-status")).to_have_text("Revoked")  # the page made anew
    expect(page.get_by_test_id("devices-message")).to_have_text(f"{REVOKED} was revoked.")
    assert row.get_by_test_id("device-revoke").is_disabled()
    page.screenshot(path=site.shots / "devices-revoked.png", full_page=True)

    revokes = [e for e in site.app.store.audit.entries() if e.action == "devices.revoke"]
    assert [(e.who, e.role, e.key) for e in revokes] == [("operator", "operator", REVOKED)]


def test_a_viewer_may_not_revoke_and_the_refusal_is_kept(browser: Browser, site: Site) -> None:
    context, page = _signed_in(browser, site, "viewer")
    try:
        _open(page, site, "devices")
        assert page.get_by_test_id("devices-read-only").is_visible()
        assert page.get_by_test_id("device-revoke").count() == 0
        page.screenshot(path=site.shots / "devices-viewer.png", full_page=True)
        refused = page.evaluate(
            """async (unit) => {
                const s = await (await fetch('/api/v1/session')).json();
                const r = await fetch(`/api/v1/devices/${unit}/revoke`,
                    {method: 'POST', headers: {'X-CSRF-Token': s.csrf}});
                return r.status;
            }""",
            "U-101",
        )
        assert refused == 403
        events = site.app.store.alerts.security_events(0)
        forbidden = [e for e in events if e.kind == "console_forbidden"]
        assert [e.who for e in forbidden] == ["viewer"]
        assert [e.key for e in site.app.store.audit.entries() if e.action == "devices.revoke"] == [
            REVOKED
        ]  # the operator's only

        _open(page, site, "overview")
        page.get_by_test_id("lang-ja").click()
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        page.locator("main[data-ready][data-route=overview]").wait_for()
        expect(page.get_by_test_id("overview-silent").locator(".tile-label")).to_have_text("無通信")
        assert page.get_by_test_id("overview-silent-value").inner_text() == "1"
        assert page.get_by_test_id("nav-devices").inner_text() == "通信端末"
        page.screenshot(path=site.shots / "overview-ja.png", full_page=True)
    finally:
        context.close()


def test_the_security_events_page_shows_the_newest_and_says_older_are_left_out(
    operator: Page, site: Site
) -> None:
    now = int(time.time())
    flood = [
        SecurityEvent("console_session_refused", now - 3600 + n, "203.0.113.5:1", None, "")
        for n in range(1_000)
    ]
    attack = SecurityEvent("certificate_refused", now - 30, "198.51.100.4:5555", "U-9", "")
    site.app.store.alerts.add_security_events([*flood, attack])
    page = operator
    _open(page, site, "security")
    kinds = page.locator("[data-testid=security-table] tbody tr td:nth-child(3)")
    listed = kinds.all_inner_texts()
    assert len(listed) == 1_000
    assert listed.index("certificate_refused") < listed.index("console_session_refused")
    count = page.get_by_test_id("security-count").inner_text()
    assert count == "the newest 1000 of the last day; older ones are not shown"
