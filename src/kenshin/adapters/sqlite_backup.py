"""A consistent copy of a SQLite database taken while other processes write to it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from kenshin.errors import StoreError


def backup_database(source: Path, target: Path, timeout: float = 30.0) -> int:
    """Copy the database at ``source`` to ``target`` (a new file) with SQLite's online
    backup API: one snapshot, whatever is committed meanwhile; the copy is checked, then
    renamed into place. Its size in bytes; StoreError if it cannot be made."""
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    # The copy holds password hashes: readable by its owner alone, whatever the umask.
    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
        try:
            copy = sqlite3.connect(part)
            try:
                reader.backup(copy)  # every page in one step: one read transaction
                (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            finally:
                copy.close()
        finally:
            reader.close()
    except sqlite3.Error as exc:
        part.unlink(missing_ok=True)
        raise StoreError(f"cannot copy {source}: {exc}") from exc
    if verdict != "ok":
        part.unlink(missing_ok=True)
        raise StoreError(f"the copy of {source} fails its integrity check: {verdict}")
    part.replace(target)
    return target.stat().st_size
