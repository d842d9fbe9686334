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

Every command finds its configuration through `--config FILE`, then the
`KENSHIN_CONFIG` environment variable, then `./kenshin.toml` (see
[configuration.md](configuration.md)). An error prints `Error:` and what to do to
standard error and exits with status 1; a wrong argument prints the command's usage
line before it and exits with status 2.
"""


# Click wraps help at the terminal's width less 2, at most 78 columns; fixing it
# here makes the reference the same on every terminal and in CI.
HELP_WIDTH = 78


def render_reference() -> str:
    """The whole reference as Markdown."""
    parts = [INTRO]
    for ctx in _contexts(cli, "kenshin", None):
        help_text = ctx.command.get_help(ctx)
        parts.append(f"\n## `{ctx.command_path}`\n\n```text\n{help_text}\n```\n")
    return "".join(parts)


def _contexts(
    command: click.Command, name: str, parent: click.Context | None
) -> list[click.Context]:
    """A context per command, chained as in a real run so that ``-h`` is inherited."""
    settings = {"terminal_width": HELP_WIDTH, **command.context_settings}
    ctx = click.Context(command, parent=parent, info_name=name, **settings)
    found = [ctx]
    if isinstance(command, click.Group):
        for sub in sorted(command.commands):
            found.extend(_contexts(command.commands[sub], sub, ctx))
    return found


if __name__ == "__main__":
    click.echo(render_reference(), nl=False)
