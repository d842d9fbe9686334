"""The console's files as served: the page at / never cached and under a strict
Content-Security-Policy, its modules under /assets/, nothing loaded from other sites,
no inline script, every label in both languages, every file shipped in the wheel.
(The page in a browser against the real API is tested apart.)"""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import MutableMapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from kenshin.entrypoints.api.console import FILES, add_console

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for p in FILES.rglob("*") if p.is_file())
SCRIPTS = [p for p in SOURCES if p.suffix == ".js"]


def get(app: FastAPI, path: str) -> tuple[int, dict[str, str], bytes]:
    """The app's answer to GET ``path``, in this process (no socket)."""
    sent: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 1),
    }

    requested: list[bool] = []

    async def receive() -> dict[str, Any]:
        if requested:  # the client stays connected until the answer is sent
            await asyncio.Event().wait()
        requested.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    headers = {bytes(k).decode().lower(): bytes(v).decode() for k, v in start["headers"]}
    body = b"".join(bytes(m.get("body", b"")) for m in sent[1:])
    return int(start["status"]), headers, body


def console_app() -> FastAPI:
    app = FastAPI()
    add_console(app)
    return app


def test_the_page_is_served_at_the_root_uncached_under_a_strict_policy() -> None:
    status, headers, body = get(console_app(), "/")
    assert status == 200
    assert b'<script type="module" src="/assets/console.js">' in body
    assert headers["cache-control"] == "no-store"
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_modules_and_stylesheet_are_served_under_assets() -> None:
    app = console_app()
    for name, kind in [
        ("console.js", "javascript"),
        ("pages/meter.js", "javascript"),
        ("console.css", "text/css"),
    ]:
        status, headers, _ = get(app, f"/assets/{name}")
        assert status == 200, name
        assert kind in headers["content-type"], name
        assert headers["x-frame-options"] == "DENY"
    assert get(app, "/assets/nothing.js")[0] == 404


def test_nothing_is_loaded_from_other_sites_and_no_script_is_inline() -> None:
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), path.name
        assert not re.search(r"\bimport\s*\(?\s*[\"']https?:", text), path.name
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
            assert risky not in text, (path.name, risky)
    page = (FILES / "index.html").read_text(encoding="utf-8")
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers


def test_every_label_used_is_in_the_table_in_both_languages() -> None:
    table = (FILES / "i18n.js").read_text(encoding="utf-8")
    entries = dict(
        re.findall(r'^\s*"?([\w.-]+)"?: \["((?:[^"\\]|\\.)*)", "(?:[^"\\]|\\.)*"\],$', table, re.M)
    )
    used = set()
    for path in SCRIPTS:
        used |= set(re.findall(r'\bt\("([\w.-]+)"', path.read_text(encoding="utf-8")))
    assert used, "no labels found"
    assert sorted(used - entries.keys()) == []
    for family, values in {
        "role": ["admin", "operator", "viewer"],
        "flag": list("AEQN"),
        "device": ["online", "silent", "never_seen", "revoked"],
        "lang": ["en", "ja"],
    }.items():
        assert {f"{family}.{v}" for v in values} <= entries.keys(), family


def test_every_file_of_the_console_is_shipped_as_package_data() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = settings["tool"]["setuptools"]["package-data"]["kenshin.entrypoints"]
    base = FILES.parent
    for path in SOURCES:
        relative = path.relative_to(base).as_posix()
        assert any(fnmatch(relative, p) for p in patterns), relative
