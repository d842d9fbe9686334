"""``kenshin files``: the file servers alone, on any node. Two of them, on two data
folders with one PostgreSQL store and one shared outbox, serve as one: a file exported
once is collected from either, with a receipt for each download, and an address locked
out by failures on both together is locked on both, and unlocked on both. On the
embedded SQLite store, one serves while the server's lock is held. Real clients: curl,
asyncssh, Python's FTPS client."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import kenshin, make_site, postgres_url, wait_for
from kenshin.adapters.folder_lock import FolderLock
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Receipt

from .conftest import (
    DAY_FILE,
    PASSWORDS,
    STDERR_NAME,
    Served,
    make_delivery_site,
    publish_files,
    start_serve,
)
from .test_logins import ftps_login, sftp_login
from .test_sftp import read, with_sftp

OUTSIDER = "127.0.0.2"
PASSWORD = PASSWORDS["C-001"]


def curl_fetch(node: Served, name: str, out: Path) -> bytes:
    """``name`` downloaded by curl over FTPS from ``node``."""
    url = f"ftp://localhost:{node.ftps_port}/{name}"
    user = f"C-001:{PASSWORD}"
    done = subprocess.run(
        ["curl", "-sS", "--ssl-reqd", "--cacert", str(node.ca), "-u", user, "-o", str(out), url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def node_site(root: Path, url: str, outbox: Path) -> Path:
    """A data folder of its own whose config names the PostgreSQL store and the outbox."""
    site = root / "first"
    assert kenshin(site, "init", str(site)).exit_code == 0
    config = site / "kenshin.toml"
    text = config.read_text().replace('url = ""', f'url = "{url}"', 1)
    config.write_text(text.replace('outbox = "outbox"', f'outbox = "{outbox}"'))
    return site


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, postgres_database: str
) -> Iterator[tuple[Served, Served, Path]]:
    """Two ``kenshin files`` (each with 2 failures allowed per address) and the file C-001
    has to collect; the second node's folder a copy of the first's (config, certificate,
    SFTP host key), as an operator sets up a node."""
    root = tmp_path_factory.mktemp("nodes")
    outbox = root / "shared-outbox"
    outbox.mkdir()
    first = node_site(root, postgres_url(root), outbox)
    for command in (
        ("db", "upgrade"),
        ("customers", "add", "C-001", "--name", "Example"),
        ("customers", "credentials", "C-001", "--password-stdin"),
        ("export", "--all"),
    ):
        done = kenshin(first, *command, input_text=f"{PASSWORD}\n")
        assert done.exit_code == 0, done.output
    second = root / "second"
    shutil.copytree(first, second)
    file = min(p for p in (outbox / "C-001").glob("C-001_*.csv"))
    env = {"KENSHIN_DELIVERIES__MAX_FAILED_LOGINS": "2"}
    one = start_serve(first, "files", KENSHIN_FTPS__PASSIVE_PORTS="43000-43099", **env)
    try:
        two = start_serve(second, "files", KENSHIN_FTPS__PASSIVE_PORTS="43100-43199", **env)
    except BaseException:
        one.stop()
        raise
    yield one, two, file
    one.stop()
    two.stop()


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_a_file_exported_once_is_collected_from_each_node_with_a_receipt_each(
    nodes: tuple[Served, Served, Path], tmp_path: Path
) -> None:
    first, second, file = nodes
    assert curl_fetch(first, file.name, tmp_path / "got.csv") == file.read_bytes()
    assert with_sftp(second, lambda sftp: read(sftp, file.name)) == file.read_bytes()

    def receipts() -> list[tuple[str, str, int, str]]:
        listed = kenshin(second.site, "deliveries", "--customer", "C-001", "--json")
        rows = json.loads(listed.output)
        return sorted((r["file"], r["protocol"], r["bytes"], r["address"]) for r in rows)

    size = file.stat().st_size
    assert wait_for("both receipts", lambda: len(found := receipts()) == 2 and found) == [
        (file.name, "ftps", size, "127.0.0.1"),
        (file.name, "sftp", size, "127.0.0.1"),
    ]


@pytest.mark.integration
def test_failures_on_both_nodes_lock_the_address_on_both_and_an_unlock_clears_both(
    nodes: tuple[Served, Served, Path],
) -> None:
    first, second, _ = nodes
    assert not ftps_login(first, "C-001", "guess", source=OUTSIDER)
    assert not sftp_login(second, "C-001", "guess", source=OUTSIDER)  # the second: locked
    assert not ftps_login(first, "C-001", PASSWORD, source=OUTSIDER)
    assert not ftps_login(second, "C-001", PASSWORD, source=OUTSIDER)
    assert not sftp_login(first, "C-001", PASSWORD, source=OUTSIDER)
    assert ftps_login(second, "C-001", PASSWORD)  # the customer, from its own address
    unlocked = kenshin(first.site, "customers", "unlock", "C-001")
    assert unlocked.exit_code == 0, unlocked.output
    assert unlocked.output == (
        "C-001: 2 failed logins from 127.0.0.2 cleared\nC-001: 127.0.0.2 unlocked\n"
    )
    assert ftps_login(first, "C-001", PASSWORD, source=OUTSIDER)
    assert sftp_login(second, "C-001", PASSWORD, source=OUTSIDER)
    for node in (first, second):
        logged = (node.site / STDERR_NAME).read_text()
        assert "login_locked: C-001 from 127.0.0.2: ftps: address locked" in logged


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_files_on_the_embedded_store_serves_while_the_servers_lock_is_held(
    tmp_path: Path,
) -> None:
    site = make_delivery_site(tmp_path)
    files = publish_files(site)
    stopped_serve = FolderLock(site)  # as a kenshin serve that hangs on to its folder
    stopped_serve.acquire()
    node = start_serve(site, "files")
    try:
        assert curl_fetch(node, DAY_FILE, tmp_path / "got.csv") == files[DAY_FILE]
        [receipt] = node.receipts("C-001", at_least=1)
        size = len(files[DAY_FILE])
        assert receipt == Receipt("C-001", DAY_FILE, 2, size, "ftps", "127.0.0.1", receipt.at)
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/readyz") as ready:
            checks = json.load(ready)["checks"]
        assert checks == {"store": "ok", "file servers": "ok", "outbox": "ok"}
        again = kenshin(site, "files")
        assert again.exit_code == 1
        assert f"in use by kenshin files process {node.process.pid}" in again.output
        assert not ftps_login(node, "C-001", "guess", source=OUTSIDER)
    finally:
        node.stop()
        stopped_serve.release()
    store = SqliteStore(site / "kenshin.db")  # the events are stored for the alerts
    try:
        [event] = store.alerts.security_events(since=0)
    finally:
        store.close()
    assert (event.kind, event.address, event.who) == ("login_failed", OUTSIDER, "C-001")


def test_files_refuses_to_start_with_nothing_to_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path, "site")
    monkeypatch.setenv("KENSHIN_FTPS__ENABLED", "false")
    monkeypatch.setenv("KENSHIN_SFTP__ENABLED", "false")
    refused = kenshin(site, "files")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: kenshin files: ftps.enabled and sftp.enabled are both false, so there is"
        " nothing to serve: set one of them to true\n"
    )
    monkeypatch.setenv("KENSHIN_SFTP__ENABLED", "true")
    (site / "ssh" / "host_key").unlink()
    refused = kenshin(site, "files")
    assert refused.exit_code == 1
    assert f"sftp.host_key: {site.resolve() / 'ssh' / 'host_key'} is missing" in refused.output
    monkeypatch.setenv("KENSHIN_FTPS__ENABLED", "true")
    monkeypatch.setenv("KENSHIN_SFTP__ENABLED", "false")
    (site / "outbox").rmdir()
    refused = kenshin(site, "files")
    assert refused.exit_code == 1
    assert f"export.outbox: {site.resolve() / 'outbox'} is not a folder" in refused.output
