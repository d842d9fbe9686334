"""The docs stay true: the CLI reference is current, links resolve, set-up matches CI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from kenshin.entrypoints.cli import cli
from kenshin.entrypoints.cli.reference import render_reference

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
CI_SCRIPT = ROOT / ".ci" / "run"
REGENERATE = ".venv/bin/python -m kenshin.entrypoints.cli.reference > docs/cli.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE_LINK = re.compile(r"""!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+["'][^"']*["'])?\s*\)""")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)


def read_text(path: Path) -> str:
    """The file's text with its line endings as they are."""
    return path.read_bytes().decode("utf-8")


def relative_links(markdown: str) -> list[str]:
    """Targets of the Markdown links outside code blocks that point into the repository."""
    prose = _FENCE.sub("", markdown)
    targets = _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)
    return [t for t in targets if not _EXTERNAL.match(t)]


def reference_sections(reference: str) -> dict[str, str]:
    """Each command path of the reference with the help text shown under it."""
    found = re.findall(r"^## `([^`]+)`\n\n```text\n(.*?)\n```$", reference, re.M | re.S)
    return dict(found)


def setup_commands() -> list[str]:
    """The shell blocks of the README's Set-up section, in order."""
    section = read_text(README).split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def ci_lines() -> list[str]:
    """The commands of the CI script, one per line, comments and blank lines left out."""
    lines = (line.strip() for line in read_text(CI_SCRIPT).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def install_arguments(command: str) -> set[str]:
    """What ``pip install`` is given in ``command``, options like ``--quiet`` left out."""
    words = shlex.split(command)
    after = words[words.index("install") + 1 :]
    return {w for w in after if not w.startswith("--")}


def test_cli_reference_is_current() -> None:
    assert read_text(CLI_DOC) == render_reference(), (
        f"docs/cli.md is out of date: regenerate it with `{REGENERATE}`"
    )


def test_cli_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    wide = render_reference()
    monkeypatch.setenv("COLUMNS", "40")
    assert render_reference() == wide


def test_cli_reference_shows_what_help_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real command, not CliRunner, which forces its own width: on a terminal
    # of 80 columns or more click prints help 78 wide, as the reference does.
    monkeypatch.setenv("COLUMNS", "120")
    sections = reference_sections(render_reference())
    assert {"kenshin", "kenshin export", "kenshin customers add", "kenshin prune"} <= set(sections)
    for path, shown in sections.items():
        args = [*path.split()[1:], "--help"]
        assert cli.main(args, prog_name="kenshin", standalone_mode=False) == 0
        assert capsys.readouterr().out == shown + "\n", path


def test_relative_links_point_to_files_that_exist() -> None:
    broken = [
        f"{doc.relative_to(ROOT)} -> {target}"
        for doc in DOCS
        for target in relative_links(read_text(doc))
        if not (doc.parent / target.split("#", 1)[0]).exists()
    ]
    assert broken == [], f"links to missing files: {broken}"


def test_link_finder_sees_relative_links_only() -> None:
    text = (
        "See [a](docs/a.md), [b](b.md#part 'x'), ![c](img/c.png), [d](https://x.org/d.md),\n"
        "[e](#top), [f](mailto:x@y.z).\n\n```md\n[g](in-code.md)\n```\n[h]: ref/h.md\n"
    )
    assert sorted(relative_links(text)) == ["b.md#part", "docs/a.md", "img/c.png", "ref/h.md"]


def test_readme_setup_is_what_ci_runs() -> None:
    install, test = setup_commands()
    ci = ci_lines()
    steps = [step.strip() for step in install.split("&&")]
    assert steps[0] == "python3 -m venv .venv"
    assert steps[0] in ci
    [pip] = [step for step in steps if " install " in step]
    ci_installs = [line for line in ci if "pip install" in line and ".[dev" in line]
    assert install_arguments(pip) == {"-e", ".[dev,aws]"}
    assert ci_installs[0].startswith(".venv/bin/python -m pip install")
    assert all(install_arguments(line) == {"-e", ".[dev,aws]"} for line in ci_installs)
    assert test == ".venv/bin/pytest"
    assert test in ci, f"the README's test command {test!r} is not a line of .ci/run"
