"""The console in a real browser (Debian's chromium driven by Playwright) on the real
admin API and a site with a fleet: sign in with password and TOTP, the overview with a
silent unit, the heatmap of a day with a gap showing E where the file has them, a
meter's curve, and a revoke refused to a viewer. A screenshot of each page is kept in
``KENSHIN_TEST_ARTIFACTS`` (default: the test's own folder)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api_fleet import file_rows, fleet_site, recent_day
from kenshin.bootstrap import App, open_app
from kenshin.domain.operators import Actor, Role
from kenshin.domain.totp import code_at
from kenshin.services.operators import add_operator, keeping_of
from served_api import served

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("integration")]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a password long enough"
DAY = recent_day()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian's package)")
    root = tmp_path_factory.mktemp("browser")
    folder = fleet_site(root, DAY)
    app = open_app(folder / "kenshin.toml")
    keeping = keeping_of(app.store)
    for role in (Role.OPERATOR, Role.VIEWER):
        add_operator(keeping, Actor("cli:test", "cli", "cli"), role.value, role, PASSWORD)
        made = app.store.operators.get_operator(role.value)
        assert made is not None
        app.store.operators.save_operator(replace(made, totp_enrolled=True))
    shots = Path(os.environ.get("KENSHIN_TEST_ARTIFACTS", root / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with served(app) as base:
            yield app, base, shots
    finally:
        app.close()


def _code(app: App, name: str) -> str:
    """The account's TOTP code now; empty for a role that signs in without one."""
    operator = app.store.operators.get_operator(name)
    assert operator is not None
    return code_at(operator.totp_secret, time.time()) if operator.totp_secret else ""


def _signed_in(browser: Browser, app: App, base: str, name: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en")
    page.goto(f"{base}/#/overview")
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(PASSWORD)
    if code := _code(app, name):
        page.get_by_test_id("signin-code").fill(code)
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("page-overview").wait_for()
    return page


def test_an_operator_sees_the_fleet_and_a_viewer_cannot_revoke(
    site: tuple[App, str, Path],
) -> None:
    app, base, shots = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = _signed_in(browser, app, base, "operator")
            units = page.evaluate(
                "async () => (await (await fetch('/api/v1/overview')).json()).units"
            )
            for tile, key in (
                ("total", "total"),
                ("never-seen", "never_seen"),
                ("silent", "silent"),
            ):
                shown = page.get_by_test_id(f"overview-{tile}-value").inner_text()
                assert shown == str(units[key]), tile
            assert units["total"] == 2
            page.screenshot(path=shots / "overview.png", full_page=True)

            page.goto(f"{base}/#/quality?customer=C-001&date={DAY}")
            page.get_by_test_id("heatmap").wait_for()
            cells = page.get_by_test_id("heat-cell")
            flags: dict[str, str] = {}
            for i in range(cells.count()):
                cell = cells.nth(i)
                meter = cell.get_attribute("data-meter") or ""
                flags[meter] = flags.get(meter, "") + (cell.get_attribute("data-flag") or "")
            rows = file_rows(app.data_dir, DAY)  # the flags are the last cell of a row
            assert flags == {"M-1": rows["M-1"][-1], "M-2": rows["M-2"][-1]}
            assert flags["M-1"] == "A" * 9 + "EEE" + "A" * 36  # the gap, as the file has it
            page.screenshot(path=shots / "quality.png", full_page=True)

            page.goto(f"{base}/#/meters/M-1?date={DAY}")
            page.get_by_test_id("meter-day-chart").wait_for()
            assert page.get_by_test_id("bar").count() >= 48
            page.screenshot(path=shots / "meter.png", full_page=True)

            viewer = _signed_in(browser, app, base, "viewer")
            viewer.goto(f"{base}/#/devices")
            viewer.get_by_test_id("page-devices").wait_for()
            assert viewer.get_by_test_id("devices-read-only").is_visible()
            refused = viewer.evaluate(
                """async () => {
                    const s = await (await fetch('/api/v1/session')).json();
                    const r = await fetch('/api/v1/devices/U-1/revoke',
                        {method: 'POST', headers: {'X-CSRF-Token': s.csrf}});
                    return r.status;
                }"""
            )
            assert refused == 403
            viewer.screenshot(path=shots / "devices-viewer.png", full_page=True)
        finally:
            browser.close()
