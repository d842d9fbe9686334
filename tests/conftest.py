"""Helpers shared by the command-line tests, hypothesis' settings for all tests, and the
guard that keeps the unit tier (tests not marked ``integration``) free of sockets and
subprocesses."""

from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncssh  # noqa: F401 - see below
import psycopg
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings
from psycopg import sql

from kenshin.adapters.sqlite import SqliteStore
from kenshin.entrypoints.cli import cli

# asyncssh runs ldconfig (a process) to find its libraries when first imported: imported
# above, before any test, so that the unit tier's guard never sees it in whichever test
# happens to import it first.

# The property tests check values, not speed: a busy machine must not fail them.
settings.register_profile("kenshin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kenshin")

T = TypeVar("T")

# The device endpoint in the server's process unless a test asks for endpoint processes
# (tests/endpoint/test_processes.py, test_serve.py): starting them would cost every test
# that runs a server a second or two.
os.environ.setdefault("KENSHIN_MQTT__PROCESSES", "1")

_ROOT = str(Path(__file__).resolve().parent.parent)

# Each SqliteStore opened in this process since the last test ended, and where.
_opened: list[tuple[SqliteStore, list[traceback.FrameSummary]]] = []


@pytest.fixture(scope="session", autouse=True)
def _track_stores() -> Iterator[None]:
    """Note every SqliteStore opened in this process, for ``_stores_closed``."""
    opening = SqliteStore.__init__

    def tracked(store: SqliteStore, *args: Any, **kwargs: Any) -> None:
        opening(store, *args, **kwargs)
        frames = traceback.extract_stack(limit=30)[:-1]
        _opened.append((store, [f for f in frames if f.filename.startswith(_ROOT)]))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SqliteStore, "__init__", tracked)
        yield


def _on_moto(item: pytest.Item) -> bool:
    """Whether the test runs a database of AWS's on moto (the functions, the DynamoDB
    store): in this process, but at a millisecond or more a call, so in the integration
    tier."""
    return item.path.parent.name == "aws_lambda" or item.path.name.startswith("test_dynamo")


@pytest.fixture(autouse=True)
def _stores_closed() -> Iterator[None]:
    """Fail a test that leaves a SqliteStore open: its connections would be found unclosed
    when collected (a ResourceWarning on Python 3.13), in whatever test runs then."""
    _opened.clear()
    yield
    left = [stack for store, stack in _opened if not store.closed]
    for store, _ in _opened:
        store.close()
    _opened.clear()
    if left:
        where = "\n".join("".join(traceback.format_list(stack)) for stack in left)
        pytest.fail(f"{len(left)} SqliteStore(s) left open, opened at:\n{where}", pytrace=False)


# Fixtures that start a server or take in a simulated fleet over weeks: a test using
# one is in the integration tier.
INTEGRATION_FIXTURES = {"mail_server", "http_sink", "fleet", "private_postgres"}
CLUSTER_FOLDERS = {"workers", "cluster"}
AWS_FOLDERS = {"aws"}  # the AWS build's synthesis: a Node.js process, mostly CPU
CONSOLE_FOLDERS = {"console", "auth"}  # the console and admin API on a served HTTP side
UNIT_TIER_ADVICE = (
    "a test of the unit tier uses no socket and no process: mark it (or its module)"
    " @pytest.mark.integration, or keep it off the network"
)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each test's tier as it is collected, before -m selects and xdist groups: the
    integration tier (and the slow tests) run in one worker, one test after another as
    they were written to (servers, the broker, timings), beside the unit tier spread
    over the workers; the cluster's tests (their own broker and PostgreSQL server on
    free ports) in a group of their own, the AWS build's (synthesized once, in the
    worker that runs them) in another, those on moto in a fourth, the console's and the
    admin API's (a browser, schemathesis) in a fifth, the endpoint processes' in a
    sixth, beside the rest of the integration tier."""
    if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())) or _on_moto(item):
        item.add_marker(pytest.mark.integration)
    if item.get_closest_marker("integration") or item.get_closest_marker("slow"):
        folder = item.path.parent.name
        group = "cluster" if folder in CLUSTER_FOLDERS else "integration"
        group = "aws" if folder in AWS_FOLDERS else group
        console = folder in CONSOLE_FOLDERS or item.path.name.startswith("test_api_")
        group = "console" if console else group
        group = "moto" if _on_moto(item) else group
        # A server with endpoint processes of its own in each: beside the integration tier.
        group = "processes" if item.get_closest_marker("endpoint_processes") else group
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _unit_tier(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test not marked ``integration`` that connects or binds a socket (asyncio's
    too) or starts a process: the unit tier stays fast and needs nothing of the machine.
    SQLite files and in-memory databases are fine. Threads an earlier test left running
    (a client closing, say) are not this test's doing: they go on as usual."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    earlier = set(threading.enumerate()) - {threading.main_thread()}
    elsewhere: list[str] = []  # what other threads did: failing them fails no test

    def refuse(what: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            thread = threading.current_thread()
            if thread in earlier:
                return original(*args, **kwargs)
            if thread is not threading.main_thread():
                elsewhere.append(f"{what} (thread {thread.name})")
            # pytest's Failed is no Exception: the code under test does not catch it.
            pytest.fail(f"{request.node.nodeid} {what}: {UNIT_TIER_ADVICE}", pytrace=False)

        return refused

    with pytest.MonkeyPatch.context() as patch:
        for method in ("connect", "connect_ex", "bind"):
            original = getattr(socket.socket, method)
            patch.setattr(socket.socket, method, refuse(f"uses socket.{method}", original))
        popen = subprocess.Popen.__init__
        patch.setattr(subprocess.Popen, "__init__", refuse("starts a subprocess", popen))
        for function in ("system", "fork", "posix_spawn", "posix_spawnp"):
            patch.setattr(os, function, refuse(f"calls os.{function}", getattr(os, function)))
        yield
    if elsewhere:
        pytest.fail(f"{'; '.join(elsewhere)}: {UNIT_TIER_ADVICE}", pytrace=False)


def kenshin(site: Path, *args: str, input_text: str | None = None) -> Result:
    """Run the command line on the site's config; a traceback fails the test."""
    result = CliRunner().invoke(
        cli, ["--config", str(site / "kenshin.toml"), *args], input=input_text
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def make_site(root: Path, name: str) -> Path:
    """A new data folder ``root/name`` with customer C-001."""
    site = root / name
    assert kenshin(site, "init", str(site)).exit_code == 0
    assert kenshin(site, "customers", "add", "C-001", "--name", "Example").exit_code == 0
    return site


def serve_process(
    site: Path,
    env: Mapping[str, str],
    listeners: int = 1,
    *,
    stderr: int = subprocess.PIPE,
    command: str = "serve",
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """``kenshin serve`` (or another ``command`` that listens) on the site as a process,
    ``env`` over this one's environment; once it has printed its ``listeners`` listening
    lines: the process, and the port of each protocol it listens with."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kenshin", "--config", str(site / "kenshin.toml"), command],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "KENSHIN_HTTP__PORT": "0", **env},  # tests run side by side
    )
    assert process.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < listeners:
        line = process.stdout.readline()
        found = re.fullmatch(r"listening: (.+) on \S+ port (\d+)\n", line)
        assert found, line or process.communicate(timeout=10)[1]
        ports[found[1]] = int(found[2])
    return process, ports


def wait_for(what: str, condition: Callable[[], T], timeout_s: float = 20.0) -> T:
    """What ``condition()`` gives once it is true (it is asked again every 20 ms until
    then): a test waits for what it expects, never a fixed time; fail naming ``what``
    after ``timeout_s``, which only a failing test waits out."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)
    return found


# The database server of the PostgreSQL store's tests: each run makes a database of its
# own there, dropped after (KENSHIN_TEST_POSTGRES to use another server).
POSTGRES_SERVER = os.environ.get(
    "KENSHIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_postgres: dict[str, str] = {}  # "url": the run's database, once made


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of this test run's own on POSTGRES_SERVER, dropped after; the tests
    that need it skip, saying why, where the server cannot be reached."""
    name = f"kenshin_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {exc}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # The tests never crash the server: commits need not wait for the disk.
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
        )
        _postgres["url"] = urlunsplit(urlsplit(POSTGRES_SERVER)._replace(path=f"/{name}"))
        try:
            yield _postgres["url"]
        finally:
            _postgres.clear()
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_url(folder: Path, schema: str | None = None) -> str:
    """The URL of a store in a schema of its own (named after ``folder``, or ``schema``)
    in the run's database; the test must have asked for the postgres_database fixture."""
    name = schema or "s" + hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return f"{_postgres['url']}?schema={name}"


def steady_port() -> int:
    """A free port of 127.0.0.1 below the range the system gives connections (and servers
    bound to port 0, as most tests' are) their ports from: nothing takes it between this
    choice and a server's start, nor while that server restarts (a broker, PostgreSQL)."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    ephemeral = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    first = random.randrange(10_000, ephemeral)
    ports: list[int] = [*range(first, ephemeral), *range(10_000, first)]
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    pytest.fail(f"no free port of 127.0.0.1 below {ephemeral}")
