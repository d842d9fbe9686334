"""Screenshots of the console on the real server (``real_site.py``: the real admin API on
a site with a fleet made through the real ingest), in English and Japanese, for looking
at the pages and for docs/console/: signs in through the page, as a user would.

    PYTHONPATH=src python -m tests.console.screens OUT_DIR [en|ja ...]

Needs Debian's chromium (no browser is downloaded) and, for Japanese, fonts-noto-cjk;
pngquant, where installed, makes the PNG files smaller.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from kenshin.domain.slots import zone

from .real_site import GAP_METER, PASSWORD, TOKYO, code, real_site

CHROMIUM = "/usr/bin/chromium"


USED: dict[str, int] = {}  # the time step of each account's last code: a code is good once


def _fresh_code(name: str) -> str:
    """A code of ``name`` not used yet (waiting for the next time step if need be)."""
    while int(time.time()) // 30 == USED.get(name):
        time.sleep(0.5)
    USED[name] = int(time.time()) // 30
    return code(name)


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/#/overview")
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(PASSWORD)
    if found := _fresh_code(name):
        page.get_by_test_id("signin-code").fill(found)
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("page-overview").wait_for()


def _ready(page: Page, base: str, route: str) -> None:
    page.goto(f"{base}/#/{route}")
    page.locator(f"main[data-ready][data-route={route.split('/')[0].split('?')[0]}]").wait_for()


def _smaller(path: Path) -> None:
    if shutil.which("pngquant"):
        subprocess.run(
            ["pngquant", "--force", "--skip-if-larger", "--quality=70-95", "--ext", ".png", path],
            check=False,
        )


def shoot(base: str, out: Path, language: str) -> None:
    """Every page worth showing, in ``language``, into ``out``."""
    yesterday = (datetime.now(zone(TOKYO)).date() - timedelta(days=1)).isoformat()
    suffix = "" if language == "en" else f"-{language}"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale=language, timezone_id=TOKYO
        )
        page = context.new_page()

        def snap(name: str) -> None:
            path = out / f"{name}{suffix}.png"
            page.screenshot(path=path)
            _smaller(path)

        page.goto(f"{base}/#/overview")
        page.get_by_test_id("signin-form").wait_for()
        snap("signin")
        sign_in(page, base, "admin")
        snap("overview")
        for route, name in (
            ("devices", "devices"),
            ("alerts", "alerts"),
            (f"report?date={yesterday}", "report"),
            ("customers/C-001", "customer"),
            (f"meters/{GAP_METER}?date={yesterday}", "meter"),
        ):
            _ready(page, base, route)
            snap(name)
        _ready(page, base, f"quality?customer=C-001&date={yesterday}")
        page.locator(f"[data-testid=heat-cell][data-meter={GAP_METER}][data-slot='09:30']").click()
        page.get_by_test_id("explain").wait_for()
        snap("quality")
        browser.close()


def main() -> None:
    out = Path(sys.argv[1])
    languages = sys.argv[2:] or ["en", "ja"]
    with tempfile.TemporaryDirectory() as folder, real_site(Path(folder) / "site") as base:
        for language in languages:
            shoot(base, out, language)


if __name__ == "__main__":
    main()
