"""Screenshots of the console on the harness (or any server), for looking at the pages
and for docs/console/: signs in as each kind of user through the page, as a user would.

    PYTHONPATH=src python -m tests.console.harness --port 8765 &
    PYTHONPATH=src python -m tests.console.screens http://127.0.0.1:8765 OUT_DIR [en|ja]

On a harness just started (``newop`` enrols its authenticator once). Needs Debian's
chromium (no browser is downloaded).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from .harness import CODE, PASSWORD

CHROMIUM = "/usr/bin/chromium"


def sign_in(page: Page, base: str, name: str, code: str | None = CODE) -> None:
    page.goto(f"{base}/#/overview")
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(PASSWORD)
    if code:
        page.get_by_test_id("signin-code").fill(code)
    page.get_by_test_id("signin-submit").click()


def shoot(base: str, out: Path, language: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=language)
        page = context.new_page()
        page.goto(f"{base}/#/overview")
        page.get_by_test_id("signin-form").wait_for()
        page.screenshot(path=out / "signin.png")
        sign_in(page, base, "newop", None)
        page.get_by_test_id("enrol-qr").wait_for()
        page.screenshot(path=out / "enrolment.png")
        page.get_by_test_id("enrol-code").fill(CODE)
        page.get_by_test_id("enrol-submit").click()
        page.get_by_test_id("page-overview").wait_for()
        page.get_by_test_id("sign-out").click()
        sign_in(page, base, "admin")
        pages = ["overview", "quality", "customers/C-001", "devices", "alerts", "dead-letters"]
        pages += ["security", "audit", "users", "tokens", "meters/M-0000007"]
        for route in pages:
            page.goto(f"{base}/#/{route}")
            page.locator(f"main[data-ready][data-route={route.split('/')[0]}]").wait_for()
            name = {"meters": "meter", "customers": "customer"}.get(route.split("/")[0], route)
            page.screenshot(path=out / f"{name}.png")
        page.goto(f"{base}/#/quality")
        page.locator("[data-testid=heat-cell][data-meter=M-0000007][data-slot='11:00']").click()
        page.get_by_test_id("explain").wait_for()
        page.get_by_test_id("explain").scroll_into_view_if_needed()
        page.screenshot(path=out / "explain.png")
        page.goto(f"{base}/#/devices")
        page.get_by_test_id("device-revoke").first.click()
        page.get_by_test_id("confirm-dialog").wait_for()
        page.screenshot(path=out / "confirm.png")
        browser.close()


if __name__ == "__main__":
    shoot(sys.argv[1], Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "en")
