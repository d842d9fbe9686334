"""Where ``kenshin backup`` puts the site's files inside DEST, and the config that finds
them there: DEST is a data folder of its own, whatever paths the site's config names."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from kenshin.config import Settings, load_settings

# The paths a backup holds, by key, and where each goes when the configured one is
# outside the data folder (an absolute path, or one leaving it): the defaults.
DATABASE: tuple[str, ...] = ("store", "path")
OUTBOX: tuple[str, ...] = ("export", "outbox")
HOST_KEY: tuple[str, ...] = ("sftp", "host_key")
DEFAULTS: dict[tuple[str, ...], str] = {
    DATABASE: "kenshin.db",
    OUTBOX: "outbox",
    HOST_KEY: "ssh/host_key",
}
DATA_DIR = ("data_dir",)


@dataclass(frozen=True)
class Layout:
    """The backup's paths, relative to DEST, and the text of its config file."""

    paths: dict[tuple[str, ...], str]
    config_text: str
    changed: list[str]  # the keys the backup's config sets otherwise than the site's


def layout(config: Path, settings: Settings, data_dir: Path) -> Layout:
    """Where each path of ``settings`` goes in a backup, and the backup's config: the
    site's file itself, or, where the site's paths lead outside DEST (an absolute
    ``store.path``, ``export.outbox``, ``sftp.host_key``, a ``data_dir`` other than the
    config's folder), the file with those keys set to the copies inside DEST."""
    paths: dict[tuple[str, ...], str]
    paths = {key: _inside(data_dir, _value(settings, key), DEFAULTS[key]) for key in DEFAULTS}
    text = config.read_text(encoding="utf-8")
    in_file = load_settings(config, {})  # the file alone: what a restored site reads
    wanted: dict[tuple[str, ...], str] = {}
    if Path(in_file.data_dir) != Path():
        wanted[DATA_DIR] = "."
    wanted |= {key: path for key, path in paths.items() if _value(in_file, key) != path}
    for key, value in wanted.items():
        text = _set(text, key, value)
    _check(config, text, wanted)
    return Layout(paths, text, [".".join(key) for key in wanted])


def _value(settings: Settings, key: tuple[str, ...]) -> str:
    section, name = key
    return str(getattr(getattr(settings, section), name))


def _inside(data_dir: Path, configured: str, default: str) -> str:
    """``configured`` relative to ``data_dir`` if it names a place inside it; ``default``
    otherwise."""
    root = data_dir.resolve()
    where = (root / configured).resolve()
    if where != root and where.is_relative_to(root):
        return where.relative_to(root).as_posix()
    return default


def _set(text: str, key: tuple[str, ...], value: str) -> str:
    """``text`` with the plain line ``name = "..."`` of ``key`` (in its table, or dotted at
    the top) set to ``value``; the line added where there is none."""
    *section, name = key
    literal = json.dumps(value)  # a TOML basic string
    lines, table = text.splitlines(keepends=True), ""
    for i, line in enumerate(lines):
        if header := re.fullmatch(r"\s*\[\s*([\w.-]+)\s*\]\s*(#.*)?\n?", line):
            table = header[1]
            continue
        names = [name] if table == ".".join(section) else []
        names += [".".join(key)] if not table else []
        for written in names:
            pattern = rf"(\s*{re.escape(written)}\s*=\s*)(\"[^\"\\]*\"|'[^']*')(.*\n?)"
            if found := re.fullmatch(pattern, line):
                lines[i] = f"{found[1]}{literal}{found[3]}"
                return "".join(lines)
    if not section:
        return f"{name} = {literal}\n{text}"
    for i, line in enumerate(lines):
        if re.fullmatch(rf"\s*\[\s*{re.escape(section[0])}\s*\]\s*(#.*)?\n?", line):
            lines.insert(i + 1, f"{name} = {literal}\n")
            return "".join(lines)
    return f"{text.rstrip()}\n\n[{section[0]}]\n{name} = {literal}\n"


def _check(config: Path, text: str, wanted: dict[tuple[str, ...], str]) -> None:
    """Refuse a rewritten config that does not read as the site's with ``wanted`` set."""
    expected: dict[str, Any] = copy.deepcopy(tomllib.loads(config.read_text(encoding="utf-8")))
    for key, value in wanted.items():
        table = expected
        for part in key[:-1]:
            table = table.setdefault(part, {})
        table[key[-1]] = value
    try:
        same = tomllib.loads(text) == expected
    except tomllib.TOMLDecodeError:
        same = False
    if not same:
        keys = ", ".join(".".join(key) for key in wanted)
        raise click.ClickException(
            f"{config}: the backup's config must point {keys} at the copies in the backup,"
            f" and cannot set them in this file: write each as a plain line under its table"
            f' (e.g. path = "..." under [store]), then back up again'
        )
