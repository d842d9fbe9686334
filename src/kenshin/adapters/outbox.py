"""Customer files in a local folder, one subfolder per customer, published atomically.

A file is written under a temporary name in its final folder (a dot name
ending ``.tmp``, never listed), flushed, fsynced and renamed into place, and the
folder is fsynced: a reader sees the old file or the new one, never half of one,
and a published file survives a power cut.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from kenshin.domain.jail import FOLDER_MODE
from kenshin.errors import ExportError

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
# Customers' data: readable by the owner and its group (the file servers), nobody else.
FILE_MODE = 0o640
# A temporary this old was left by a writer that died; live writes take seconds.
STALE_TEMP_SECONDS = 3600


class LocalOutbox:
    """An Outbox on the local file system: files under ``root/<customer>/``."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def publish(self, customer_id: str, name: str, content: bytes) -> None:
        """Write ``content`` under a temporary name, make it durable and rename it into place."""
        folder = self._folder(customer_id)
        target = folder / plain_name(name, "file name")
        try:
            self._make_folder(folder)
            _discard_stale_temporaries(folder)
            temp = folder / f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
            try:
                _write_durably(temp, content)
                temp.replace(target)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            _sync_folder(folder)
        except OSError as exc:
            raise ExportError(f"could not publish {customer_id}/{name}: {exc}") from exc
        log.debug("published %s/%s (%d bytes)", customer_id, name, len(content))

    def read(self, customer_id: str, name: str) -> bytes | None:
        """The published file's bytes, or None."""
        path = self._folder(customer_id) / plain_name(name, "file name")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ExportError(f"could not read {customer_id}/{name}: {exc}") from exc

    def list_files(self, customer_id: str) -> list[str]:
        """Names of the customer's published files, sorted; temporaries are not listed."""
        folder = self._folder(customer_id)
        try:
            with os.scandir(folder) as entries:
                return sorted(
                    e.name
                    for e in entries
                    if not e.name.startswith(".") and e.is_file(follow_symlinks=False)
                )
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ExportError(f"could not list the files of {customer_id}: {exc}") from exc

    def remove(self, customer_id: str, name: str) -> None:
        """Remove a published file if it exists."""
        folder = self._folder(customer_id)
        try:
            (folder / plain_name(name, "file name")).unlink(missing_ok=True)
            if folder.is_dir():
                _sync_folder(folder)
        except OSError as exc:
            raise ExportError(f"could not remove {customer_id}/{name}: {exc}") from exc

    def _folder(self, customer_id: str) -> Path:
        return self._root / plain_name(customer_id, "customer id")

    def _make_folder(self, folder: Path) -> None:
        if folder.is_dir():
            return
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        _sync_folder(folder.parent)


def plain_name(part: str, what: str) -> str:
    """``part`` if it is one plain path component; a dot name is reserved for temporaries.

    Every outbox checks customer ids and file names with it, so that a name is refused
    alike wherever the files go.
    """
    if not part or part.startswith(".") or any(c in part for c in "/\\\x00"):
        raise ExportError(f"{what} {part!r} cannot be a file name: empty, dot or separator")
    return part


def _write_durably(path: Path, content: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable; POSIX only."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard_stale_temporaries(folder: Path) -> None:
    """Remove the folder's temporaries left by writers that died (a killed export worker),
    of any file: a customer's next publish clears them."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    with os.scandir(folder) as entries:
        stale = [
            e.path
            for e in entries
            if e.name.startswith(".")
            and e.name.endswith(TEMP_SUFFIX)
            and e.stat(follow_symlinks=False).st_mtime < cutoff
        ]
    for path in stale:
        Path(path).unlink(missing_ok=True)
