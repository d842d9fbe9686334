"""A PostgreSQL server of the tests' own, for the tests of what the cluster's parts do
when it restarts or crashes under them."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import steady_port, wait_for


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of the tests' own, which they may stop, restart and crash: made
    with the installed binaries in ``folder`` (data, socket and log), listening on
    127.0.0.1 ``port``, trust authentication, no fsync (commits still reach the system
    before they are answered: only a crash of the machine would lose them). ``run_as``
    runs its commands as the user the server runs as (initdb refuses root)."""

    folder: Path
    port: int
    binaries: Path
    run_as: tuple[str, ...]

    @property
    def url(self) -> str:
        """Its database ``postgres`` as user ``postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def store_url(self, schema: str) -> str:
        """The URL of a kenshin store in ``schema`` of it."""
        return f"{self.url}?schema={schema}"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def command(self, program: str, *args: str) -> None:
        """Run one of the server's programs as its user; fail with what it and the log say."""
        done = subprocess.run(
            [*self.run_as, str(self.binaries / program), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            pytest.fail(f"{program} {' '.join(args)}: {done.stdout}{done.stderr}\n{tail}")

    def _ctl(self, *args: str) -> None:
        log = str(self.folder / "server.log")
        self.command("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", *args)

    def running(self) -> bool:
        """Whether the server's postmaster is there (a crashed one is not)."""
        pid = self.postmaster()
        return pid is not None and _alive(pid)

    def postmaster(self) -> int | None:
        """The postmaster's process id, from its lock file; None if there is none."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def start(self) -> None:
        """Start it; return once it accepts connections."""
        self._ctl("start")

    def stop(self) -> None:
        """Stop it the fast way: sessions are ended, what was committed is kept."""
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Stop it the fast way and start it again."""
        self._ctl("restart", "-m", "fast")

    def kill(self) -> None:
        """Kill the server as a crash would: SIGKILL to the postmaster, then to each of its
        processes left (a backend busy with a statement would finish it, even commit, before
        seeing its postmaster gone); once none is left, start it again: crash recovery
        replays what was committed, and nothing else."""
        assert self.running(), "the server is not running"
        pid = self.postmaster()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for process in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        wait_for("the killed server's processes to end", lambda: not self._processes())
        # Where init reaps no orphans (a container's), the postmaster stays a zombie, which
        # a new one takes for a live postmaster: its lock files go, none of it being left.
        (self.data / "postmaster.pid").unlink()
        (self.folder / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        self.start()

    def _processes(self) -> list[int]:
        """The processes of the server (each works in its data folder)."""
        found, data = [], self.data.resolve()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "cwd").readlink() == data:
                    found.append(int(entry.name))
            except OSError:  # ended, or a zombie
                continue
        return found


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, never reaped where init does not, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="session")
def _private_postgres_server() -> Iterator[PrivatePostgres]:
    # Debian puts the server's programs under their major version, not on PATH: the newest.
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parents[1].name) if p.parents[1].name.isdigit() else 0,
    )
    if not found:
        pytest.skip("no initdb in /usr/lib/postgresql/*/bin: install the PostgreSQL server")
    run_as: tuple[str, ...] = ()
    owner = None
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no user postgres to run PostgreSQL as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root, and no runuser to run PostgreSQL as user postgres")
        run_as = ("runuser", "-u", "postgres", "--")
    folder = Path(tempfile.mkdtemp(prefix="kenshin-pg-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = steady_port()
    server = PrivatePostgres(folder, port, found[-1].parent, run_as)
    server.command(
        "initdb",
        *("-D", str(server.data), "--auth=trust", "--username=postgres", "--encoding=UTF8"),
        *("--locale=C", "--no-sync", "--no-instructions"),
    )
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{folder}'\nfsync = off\nfull_page_writes = off\n"
            "max_connections = 40\nshared_buffers = 16MB\n"
        )
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.command("pg_ctl", "-D", str(server.data), "stop", "-m", "immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_postgres(_private_postgres_server: PrivatePostgres) -> PrivatePostgres:
    """A PostgreSQL server of the tests' own (one a session, made when first asked for),
    running when the test starts whatever the test before did to it."""
    if not _private_postgres_server.running():
        _private_postgres_server.start()
    return _private_postgres_server
