"""Every shell command shown in README.md and docs/ runs as shown, in a throw-away site.

The commands of every ``sh`` block run in order, README first, in one folder: the
``kenshin`` ones through the command line in this process, ``kenshin serve`` as a
process on free ports, and the customers' clients (curl, lftp, sftp) against it.
What a reader brings along is made first (their SSH keys); what only the test needs
is written out below, each with its reason: the server's real address and ports for
the documentation's ``kenshin.example``, the password the reader would type, the files
of a day the site has. Benchmarks are checked to take the options shown, not run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from conftest import serve_process
from kenshin.entrypoints.cli import cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PASSWORD = "horse-battery-staple-2026"
CLIENTS = ("curl", "lftp", "sftp", "ssh-keygen")
# The README's set-up: test_docs checks that .ci/run runs these, test_demo the demo.
SET_UP = (
    "python3 -m venv .venv",
    ".venv/bin/pip install",
    ".venv/bin/kenshin demo",
    ".venv/bin/pytest",
)
# Fleets of the benchmarks' size take minutes; the same commands run on a smaller one.
SMALLER = {"--devices 2000": "--devices 20"}


@dataclass(frozen=True)
class Shown:
    """One command of a documentation page, as shown (a comment at its end left out)."""

    doc: str
    line: str

    @property
    def words(self) -> list[str]:
        """The command's words as the shell splits them."""
        return shlex.split(self.line, comments=True)


def shown_commands() -> list[Shown]:
    """The commands of every sh block, page by page, README first; ``a && b`` as two."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", text, re.M | re.S):
            for line in block.splitlines():
                for part in line.split(" && "):
                    if shlex.split(part, comments=True):
                        found.append(Shown(doc.name, part.strip()))
    return found


@dataclass
class Session:
    """The reader's shell: where they are, and the server they started."""

    cwd: Path
    env: dict[str, str]
    root: Path  # where the documentation's absolute paths (/var/..., /srv/...) are made
    server: subprocess.Popen[str] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def words(self, line: str) -> list[str]:
        """The command's words with the test's day and paths in place of the doc's."""
        return [self.rooted(_day(w)) for w in shlex.split(_smaller(line), comments=True)]

    def rooted(self, word: str) -> str:
        """An absolute path of the documentation, under the test's root folder."""
        if not word.startswith("/"):
            return word
        path = self.root / word.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    def kenshin(self, shown: Shown, typed: str | None = None) -> None:
        """A kenshin command, in this process, in the reader's folder; ``typed`` its input."""
        words = self.words(shown.line)[1:]
        if words[-1:] == ["serve"]:
            self.serve(Path(words[1]).parent if words[0] == "--config" else self.cwd)
            return
        if "--password" in words:
            typed = f"{PASSWORD}\n{PASSWORD}\n"
        previous = Path.cwd()
        os.chdir(self.cwd)
        try:
            result = CliRunner().invoke(cli, words, input=typed, env=self.env)
        finally:
            os.chdir(previous)
        assert result.exit_code == 0, f"{shown}: {result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        if "--allow" in words and "127.0.0.1" not in words:  # the test connects from here
            self.kenshin(Shown(shown.doc, "kenshin customers credentials C-001 --allow 127.0.0.1"))

    def serve(self, site: Path) -> None:
        """``kenshin serve`` of ``site`` on free ports: the reader's server, started once
        and kept for the clients; another site's (a restored backup) stopped once it
        listens."""
        if site != self.cwd:
            other, _ = serve_process(site, self.env, listeners=4, stderr=subprocess.DEVNULL)
            other.terminate()
            other.communicate(timeout=30)
            assert other.returncode == 0, f"kenshin serve of {site} did not stop cleanly"
        elif self.server is None:
            self.server, self.ports = serve_process(
                self.cwd, self.env, listeners=4, stderr=subprocess.DEVNULL
            )

    def command(self, shown: Shown) -> None:
        """Any other command (cp, ...), as shown, in the reader's folder."""
        run = subprocess.run(self.words(shown.line), cwd=self.cwd, capture_output=True, check=False)
        assert run.returncode == 0, f"{shown}: {run.stderr.decode()}"

    def client(self, shown: Shown) -> None:
        """A customer's client, against the server the reader started."""
        assert self.server is not None, f"{shown}: no 'kenshin serve' shown before it"
        line = _to_server(shown.line, self.ports, self._file_name())
        words = shlex.split(line, comments=True)
        words[1:1] = _client_options(words[0], self.cwd)
        run = subprocess.run(words, cwd=self.cwd, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{shown}\n{line}\n{run.stdout}\n{run.stderr}"

    def _file_name(self) -> str:
        names = sorted(p.name for p in (self.cwd / "outbox" / "C-001").glob("C-001_*.csv"))
        assert names, "no file to collect"
        return names[0]

    def stop(self) -> None:
        """Stop the server the reader started."""
        if self.server is not None:
            self.server.terminate()
            self.server.communicate(timeout=30)


def _smaller(line: str) -> str:
    for shown, run in SMALLER.items():
        line = line.replace(shown, run)
    return line


def _day(word: str) -> str:
    """A word with the placeholder YYYY-MM-DD as a day the site has readings of."""
    yesterday = datetime.now(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=1)
    return word.replace("YYYY-MM-DD", yesterday.isoformat())


def _to_server(line: str, ports: dict[str, int], file_name: str) -> str:
    """The documentation's server and file as the test has them."""
    ftps, sftp = ports["FTPS"], ports["SFTP"]
    line = line.replace("kenshin.example:2121", f"127.0.0.1:{ftps}")
    line = line.replace("-p 2121 kenshin.example", f"-p {ftps} 127.0.0.1")
    line = line.replace("-P 2222 C-001@kenshin.example", f"-P {sftp} C-001@127.0.0.1")
    line = line.replace("-u C-001 ", f"-u C-001:{PASSWORD} ", 1) if "curl" in line else line
    line = line.replace("-u C-001 ", f"-u C-001,{PASSWORD} ", 1) if "lftp" in line else line
    return re.sub(r"C-001_\d{8}\.csv", file_name, line)


def _client_options(program: str, cwd: Path) -> list[str]:
    """What only the test adds: no host key prompt, the reader's key, no password prompt."""
    if program == "sftp":
        return [
            *("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"),
            *("-o", "UserKnownHostsFile=/dev/null", "-i", str(cwd / "customer")),
        ]
    return []


def _prepare(home: Path) -> None:
    """What a reader of the docs has already: SSH key pairs, a password in a file."""
    for name in ("customer", "laptop"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True
        )
    (home / "pw.txt").write_text(f"{PASSWORD}\n")


READERS_FILES = ("customer", "customer.pub", "laptop", "laptop.pub", "pw.txt")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """The reader's shell in an empty folder, with the server's ports free for tests."""
    env = {f"KENSHIN_{section}__PORT": "0" for section in ("MQTT", "HTTP", "FTPS", "SFTP")}
    env |= {"KENSHIN_MQTT__HOST": "127.0.0.1", "KENSHIN_FTPS__HOST": "127.0.0.1"}
    env |= {"KENSHIN_SFTP__HOST": "127.0.0.1"}
    _prepare(tmp_path)
    shell = Session(tmp_path, env, tmp_path / "root")
    try:
        yield shell
    finally:
        shell.stop()


def run(shell: Session, shown: Shown) -> None:
    """One command as the reader would run it."""
    program = shown.words[0]
    if " | kenshin " in shown.line:  # what the first command prints is the second's input
        producer, consumer = shown.line.split(" | ", 1)
        env = {"PATH": os.environ["PATH"], "PW": PASSWORD}
        made = subprocess.run(["bash", "-c", producer], env=env, capture_output=True, text=True)
        assert made.returncode == 0, f"{shown}: {made.stderr}"
        shell.kenshin(Shown(shown.doc, consumer), typed=made.stdout)
    elif program == "cd":
        shell.cwd = shell.cwd / shown.words[1]
        for name in READERS_FILES:
            if not (shell.cwd / name).exists():
                shutil.copy(shell.cwd.parent / name, shell.cwd / name)
    elif program == "kenshin":
        shell.kenshin(shown)
    elif program in ("curl", "lftp", "sftp"):
        if program == "curl" or "--cacert ca.pem" in shown.line or "ca-file ca.pem" in shown.line:
            shutil.copy(shell.cwd / "pki" / "ca.pem", shell.cwd / "ca.pem")
        shell.client(shown)
    elif program in ("cp",):
        shell.command(shown)
    else:
        pytest.fail(f"{shown.doc}: no way to run {shown.line!r}: teach this test")


def test_every_documented_command_runs(session: Session) -> None:
    missing = [c for c in CLIENTS if shutil.which(c) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    ran = []
    for shown in shown_commands():
        if shown.line.startswith(SET_UP):
            continue
        if shown.words[0] == "python":
            check_benchmark(shown)
            continue
        run(session, shown)
        ran.append(shown.line)
    assert any(line.startswith("sftp") for line in ran)
    assert any(line.startswith("kenshin report") for line in ran)


def check_benchmark(shown: Shown) -> None:
    """A benchmark's options as shown are ones its script takes."""
    script, *arguments = shown.words[1:]
    helped = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0, f"{shown}: {helped.stderr}"
    for option in (w for w in arguments if w.startswith("--")):
        assert option in helped.stdout, f"{shown}: {script} takes no {option}"


def test_commands_are_found_in_every_page_with_a_shell_block() -> None:
    pages = {shown.doc for shown in shown_commands()}
    assert {"README.md", "delivery.md", "report.md", "benchmarks.md"} <= pages
    assert Shown("README.md", "kenshin init site") in shown_commands()
