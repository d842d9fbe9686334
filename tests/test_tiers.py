"""The unit tier keeps itself fast: a test not marked ``integration`` that opens a socket
(asyncio's too, or from a thread of its own) or starts a process fails, saying what to
do; SQLite, in files or shared in memory, is fine. Run on tests of its own, with this
directory's conftest, in a pytest process of its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TESTS = """
import asyncio
import socket
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing

import pytest


def test_binds():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))


def test_connects_with_asyncio():
    async def main():
        await asyncio.open_connection("127.0.0.1", 9)

    asyncio.run(main())


def test_starts_a_process():
    subprocess.run([sys.executable, "-c", "pass"])


def test_binds_in_a_thread_that_hides_the_failure():
    def bind():
        try:
            socket.socket().bind(("127.0.0.1", 0))
        except BaseException:
            pass

    thread = threading.Thread(target=bind)
    thread.start()
    thread.join()


def test_sqlite_is_no_socket(tmp_path):
    with closing(sqlite3.connect(tmp_path / "a.db")) as db:
        assert db.execute("SELECT 1").fetchone() == (1,)
    with closing(sqlite3.connect("file:m?mode=memory&cache=shared", uri=True)) as db:
        assert db.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.integration
def test_marked_integration_may():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
"""


def test_a_unit_test_that_opens_a_socket_or_starts_a_process_fails(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    integration: servers\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEp"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    for test, what in [
        ("test_binds", "uses socket.bind"),
        ("test_connects_with_asyncio", "uses socket.connect"),
        ("test_starts_a_process", "starts a subprocess"),
    ]:
        assert f"FAILED test_inner.py::{test} " in out
        assert f"test_inner.py::{test} {what}: a test of the unit tier uses no socket" in out
    assert "ERROR test_inner.py::test_binds_in_a_thread_that_hides_the_failure" in out
    assert "uses socket.bind (thread Thread-" in out
    assert "PASSED test_inner.py::test_sqlite_is_no_socket" in out
    assert "PASSED test_inner.py::test_marked_integration_may" in out
    assert "mark it (or its module) @pytest.mark.integration" in out
