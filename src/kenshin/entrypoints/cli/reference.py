"""Writes the CLI reference (docs/cli.md) from the commands' own help texts.

Run ``python -m kenshin.entrypoints.cli.reference > docs/cli.md``; a test fails
when the file differs from what this prints.
"""

from __future__ import annotations

import click

from kenshin.entrypoints.cli import cli

INTRO = """\
# Command-line reference

Generated from the commands' own `--help` by
`python -m kenshin.entrypoints.cli.reference > docs/cli.md`; a test keeps it current.

Every command finds its configuration through `--config PATH`, then the
`KENSHIN_CONFIG` environment variable, then `./kenshin.toml` (see
[configuration.md](configuration.md)). Errors print one line starting with
`Error:` and exit with status 1 (2 for a wrong argument).
"""


def render_reference() -> str:
    """The whole reference as Markdown."""
    parts = [INTRO]
    for path, command in _walk(cli, ["kenshin"]):
        ctx = click.Context(command, info_name=" ".join(path))
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{command.get_help(ctx)}\n```\n")
    return "".join(parts)


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found.extend(_walk(command.commands[name], [*path, name]))
    return found


if __name__ == "__main__":
    click.echo(render_reference(), nl=False)
